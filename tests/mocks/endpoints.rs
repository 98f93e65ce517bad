//! STS is called on its regional endpoint, in every partition, both for AssumeRole and for the
//! pending key's GetCallerIdentity (CONTRACT section 4).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_key_rotation::aws::RotationAws;
use aws_sdk_sts::config::Credentials;
use aws_smithy_http_client::test_util::capture_request;
use std::time::Duration;

/// The host each STS call of `RotationAws` sends to in `region`: (shared client, per-key client).
async fn sts_hosts(region: &'static str) -> (String, String) {
    let mut hosts = Vec::new();
    for per_key in [false, true] {
        let (http, rx) = capture_request(None);
        let config =
            SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .http_client(http)
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        Credentials::new("AKIDLAMBDA", "lambda-role-secret", None, None, "test"),
                    ),
                )
                .build();
        let aws = RotationAws::new(&config);
        // The captured answer is empty; only the request matters.
        let _ = if per_key {
            let secret = secrecy::SecretString::from("pending-secret".to_owned());
            aws.sts
                .identity_of("AKIDPENDING", &secret, Duration::from_secs(5))
                .await
        } else {
            aws.sts.caller_arn().await
        };
        let request = rx.expect_request();
        let uri = request.uri();
        let host = uri
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap();
        hosts.push(host.to_owned());
    }
    (hosts[0].clone(), hosts[1].clone())
}

#[tokio::test]
async fn sts_calls_use_the_regional_endpoint_in_every_partition() {
    for (region, host) in [
        ("us-east-1", "sts.us-east-1.amazonaws.com"),
        ("eu-central-1", "sts.eu-central-1.amazonaws.com"),
        ("cn-north-1", "sts.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "sts.us-gov-west-1.amazonaws.com"),
    ] {
        let (shared, per_key) = sts_hosts(region).await;
        assert_eq!(shared, host, "{region}");
        assert_eq!(per_key, host, "{region}: the pending key's client");
    }
}
