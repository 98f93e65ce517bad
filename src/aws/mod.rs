//! The AWS side: every SDK client is built here, and every call is made by an adapter below
//! (one per service), returning plain data or an [`AwsError`](error::AwsError). Nothing here
//! knows about rotations or audits.

pub mod error;
pub mod gate;
pub mod iam;
pub mod kms;
pub mod organizations;
pub mod s3;
pub mod secrets;
pub mod securityhub;
pub mod sns;
pub mod sqs;
pub mod sts;
pub mod tls;

use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use std::sync::Arc;
use std::time::Duration;

pub use tls::{sdk_config, TrustStoreError};

/// SDK clients built once at start-up and shared by every invocation.
#[derive(Clone, Debug)]
pub struct Clients {
    pub secrets: aws_sdk_secretsmanager::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    /// An IAM client like the shared one, signing with `credentials` (an assumed role).
    pub fn iam_with(&self, credentials: Credentials) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            self.iam
                .config()
                .to_builder()
                .credentials_provider(credentials)
                .build(),
        )
    }

    /// An STS client like the shared one (same region, endpoint and retry settings), signing
    /// with `credentials`, whose every call ends within `timeout`.
    pub fn sts_with(&self, credentials: Credentials, timeout: Duration) -> aws_sdk_sts::Client {
        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .build();
        aws_sdk_sts::Client::from_conf(
            self.sts
                .config()
                .to_builder()
                .credentials_provider(credentials)
                .timeout_config(timeouts)
                .build(),
        )
    }
}

/// The SDK clients of one account and region.
#[derive(Clone, Debug)]
pub struct AuditClients {
    /// Account Management (the account's enabled regions).
    pub account: aws_sdk_account::Client,
    pub kms: aws_sdk_kms::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub securityhub: aws_sdk_securityhub::Client,
}

/// Which account and region a set of clients is for.
#[derive(Debug, Clone, Copy)]
pub struct ClientScope<'a> {
    pub account: Option<&'a str>,
    /// The role assumed for this account, if any.
    pub role_arn: Option<&'a str>,
    pub region: &'a str,
    /// The assumed role's credentials; `None`: the function's own.
    pub credentials: Option<&'a Credentials>,
}

/// Builds the clients of an account and region.
pub type ClientFactory = Arc<dyn Fn(&ClientScope<'_>) -> AuditClients + Send + Sync>;

/// The audit clients' retry settings: adaptive (client-side rate limiting once AWS throttles),
/// five attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(5)
}

/// The audit's STS client, and the factory of its per-account, per-region clients: adaptive
/// retries, and one retry partition per account, region and service.
pub fn audit_clients(sdk_config: &SdkConfig) -> (aws_sdk_sts::Client, ClientFactory) {
    let base = sdk_config.to_builder().retry_config(retry_config()).build();
    let sts = aws_sdk_sts::Client::new(&base);
    let factory: ClientFactory = Arc::new(move |scope: &ClientScope<'_>| {
        let mut b = base
            .to_builder()
            .region(Region::new(scope.region.to_owned()));
        if let Some(c) = scope.credentials {
            b = b.credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                c.clone(),
            ));
        }
        let conf = b.build();
        // The SDK shares its retry quota and adaptive rate limiter by partition, by default
        // one per service and region for the whole process: give each account its own, so
        // that throttling or failures in one account do not slow the others.
        let partition = |service: &str| {
            format!(
                "audit-{service}-{}-{}",
                scope.region,
                scope.account.unwrap_or("own")
            )
        };
        AuditClients {
            account: aws_sdk_account::Client::from_conf(
                aws_sdk_account::config::Builder::from(&conf)
                    .retry_partition(aws_sdk_account::config::retry::RetryPartition::new(
                        partition("account"),
                    ))
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&conf)
                    .retry_partition(aws_sdk_kms::config::retry::RetryPartition::new(partition(
                        "kms",
                    )))
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&conf)
                    .retry_partition(aws_sdk_iam::config::retry::RetryPartition::new(partition(
                        "iam",
                    )))
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&conf)
                    .retry_partition(aws_sdk_secretsmanager::config::retry::RetryPartition::new(
                        partition("secretsmanager"),
                    ))
                    .build(),
            ),
            securityhub: aws_sdk_securityhub::Client::from_conf(
                aws_sdk_securityhub::config::Builder::from(&conf)
                    .retry_partition(aws_sdk_securityhub::config::retry::RetryPartition::new(
                        partition("securityhub"),
                    ))
                    .build(),
            ),
        }
    });
    (sts, factory)
}

/// The Organizations client of an audit that covers an Organization (the function's own
/// credentials: the management account or a delegated administrator), with the audit's retries.
pub fn organizations_client(sdk_config: &SdkConfig) -> aws_sdk_organizations::Client {
    let conf = sdk_config.to_builder().retry_config(retry_config()).build();
    aws_sdk_organizations::Client::new(&conf)
}

/// The SQS client a scheduled audit fans its accounts out with (`AUDIT_FANOUT_QUEUE_URL`).
pub fn sqs_client(sdk_config: &SdkConfig) -> aws_sdk_sqs::Client {
    let conf = sdk_config.to_builder().retry_config(retry_config()).build();
    aws_sdk_sqs::Client::new(&conf)
}

/// The S3 client that stores reports; path-style addressing where an endpoint is set (a local
/// S3 has no bucket DNS names).
pub fn s3_client(sdk_config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk_config)
            .force_path_style(sdk_config.endpoint_url().is_some())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn audit_clients_retry_adaptively() {
        let r = retry_config();
        assert_eq!(r.mode(), RetryMode::Adaptive);
        assert_eq!(r.max_attempts(), 5);
    }
}
