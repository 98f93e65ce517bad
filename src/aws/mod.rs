//! The only modules that touch `aws-sdk-*` types. Each function makes one kind of call and
//! returns plain data or an [`AwsError`](crate::error::AwsError).

pub mod iam;
pub mod iam_inventory;
pub mod kms;
pub mod secrets;
pub mod sns;
pub mod sts;

use aws_config::SdkConfig;
use aws_sdk_sts::config::Credentials;
use std::time::Duration;

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
