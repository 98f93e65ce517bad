//! The AWS side: every SDK client is built here, and every call is made by an adapter below,
//! one per service (a struct holding its client and its [`gate::Lane`], every method going
//! through [`gate::Lane::send`] and returning plain data or an [`AwsError`](error::AwsError)).
//! Nothing here knows about rotations or audits; the bundles below say which adapters each
//! function reaches.

pub mod account;
pub mod error;
pub mod gate;
pub mod iam;
pub mod kms;
pub mod organizations;
pub mod s3;
pub mod secret_list;
pub mod secrets;
pub mod securityhub;
pub mod sns;
pub mod sqs;
pub mod sts;
pub mod tls;

use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use gate::{Gate, Lane};
use iam::Iam;
use secrets::Secrets;
use std::sync::Arc;
use sts::{Session, Sts};

pub use tls::{sdk_config, TrustStoreError};

/// What the rotation function reaches, in its own account and region: the secret, IAM and STS.
/// Built once at start-up and shared by every invocation.
#[derive(Clone, Debug)]
pub struct RotationAws {
    pub secrets: Secrets,
    pub iam: Iam,
    pub sts: Sts,
    /// Publishes notices (`NOTIFY_TOPIC_ARN`).
    pub sns: Option<sns::Sns>,
}

impl RotationAws {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config).into(),
            iam: aws_sdk_iam::Client::new(config).into(),
            sts: aws_sdk_sts::Client::new(config).into(),
            sns: Some(sns::Sns::new(config)),
        }
    }
}

/// What `remove-root-keys` reaches: STS (its own identity, AssumeRoot), Organizations (the
/// member accounts), SNS (notices), and IAM only through a member account's root session
/// ([`RootKeysAws::root_iam`]). Built once at start-up and shared by every invocation.
#[derive(Clone, Debug)]
pub struct RootKeysAws {
    pub sts: Sts,
    pub organizations: organizations::Organizations,
    /// Publishes notices (`NOTIFY_TOPIC_ARN`).
    pub sns: Option<sns::Sns>,
    /// Never used with the function's own credentials: the template grants it no IAM action.
    iam: Iam,
}

impl RootKeysAws {
    pub fn new(config: &SdkConfig) -> Self {
        Self::from_clients(
            aws_sdk_sts::Client::new(config),
            aws_sdk_organizations::Client::new(config),
            aws_sdk_iam::Client::new(config),
            Some(sns::Sns::new(config)),
        )
    }

    /// Over clients of the caller's making (tests: mock clients).
    pub fn from_clients(
        sts: aws_sdk_sts::Client,
        organizations: aws_sdk_organizations::Client,
        iam: aws_sdk_iam::Client,
        sns: Option<sns::Sns>,
    ) -> Self {
        Self {
            sts: sts.into(),
            organizations: organizations.into(),
            sns,
            iam: iam.into(),
        }
    }

    /// IAM signing with a member account's root session (from [`Sts::assume_root`]): the one
    /// place its credentials become a client.
    pub fn root_iam(&self, session: &Session) -> Iam {
        self.iam.in_session(session)
    }
}

/// The SDK clients of one audited account and region, which [`Aws::new`] puts behind their
/// adapters.
#[derive(Clone, Debug)]
pub struct RegionClients {
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
    /// The assumed role's session; `None`: the function's own credentials.
    pub credentials: Option<&'a Session>,
}

/// Builds the clients of an account and region.
pub type ClientFactory = Arc<dyn Fn(&ClientScope<'_>) -> RegionClients + Send + Sync>;

/// The adapters of one audited account and region, on the invocation's lanes: KMS and Secrets
/// Manager per account and region, IAM and Account Management per account (they are global),
/// Security Hub unlimited.
#[derive(Clone, Debug)]
pub struct Aws {
    pub account: account::Account,
    pub kms: kms::Kms,
    pub iam: Iam,
    pub secrets: Secrets,
    pub securityhub: securityhub::SecurityHub,
}

impl Aws {
    /// `label` names the account in the lanes (its id, or `own`).
    pub fn new(clients: RegionClients, gate: &Arc<Gate>, label: &str, region: &str) -> Self {
        let lane = |scope: &str| Lane::new(gate.clone(), &format!("{label}/{scope}"));
        Self {
            account: account::Account::on(clients.account, lane("account")),
            kms: kms::Kms::on(clients.kms, lane(region)),
            iam: Iam::on(clients.iam, lane(GLOBAL)),
            secrets: Secrets::on(clients.secrets, lane(region)),
            securityhub: clients.securityhub.into(),
        }
    }
}

/// The lane scope of an account's global services (IAM).
pub const GLOBAL: &str = "global";

/// What the audit function reaches from its own account (STS, Organizations, SQS, S3, SNS),
/// and how it reaches every audited account and region ([`AuditAws::at`]). Built once at
/// start-up and shared by every invocation.
#[derive(Clone)]
pub struct AuditAws {
    pub sts: Sts,
    /// Lists the Organization's accounts (`AUDIT_ORG_ROLE_NAME`).
    pub organizations: Option<organizations::Organizations>,
    /// Sends the fan-out messages (`AUDIT_FANOUT_QUEUE_URL`).
    pub sqs: Option<sqs::Sqs>,
    /// Stores the reports (`REPORT_BUCKET`).
    pub s3: Option<s3::S3>,
    /// Publishes notices (`NOTIFY_TOPIC_ARN`).
    pub sns: Option<sns::Sns>,
    /// The function's own region.
    pub home_region: Option<String>,
    factory: ClientFactory,
}

impl std::fmt::Debug for AuditAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditAws")
            .field("home_region", &self.home_region)
            .finish_non_exhaustive()
    }
}

impl AuditAws {
    /// The audit's clients from `sdk_config` (region, endpoint, credentials): adaptive retries,
    /// and one retry partition per account, region and service.
    pub fn new(sdk_config: &SdkConfig) -> Self {
        let base = sdk_config.to_builder().retry_config(retry_config()).build();
        let home_region = sdk_config.region().map(|r| r.as_ref().to_owned());
        Self {
            organizations: Some(aws_sdk_organizations::Client::new(&base).into()),
            sqs: Some(aws_sdk_sqs::Client::new(&base).into()),
            s3: Some(s3_client(sdk_config).into()),
            sns: Some(sns::Sns::new(sdk_config)),
            ..Self::with_factory(
                home_region,
                aws_sdk_sts::Client::new(&base),
                region_clients(base),
            )
        }
    }

    /// An audit over clients of the caller's making (tests: mock clients per region), with no
    /// Organizations, SQS, S3 or SNS until given.
    pub fn with_factory(
        home_region: Option<String>,
        sts: aws_sdk_sts::Client,
        factory: ClientFactory,
    ) -> Self {
        Self {
            sts: sts.into(),
            organizations: None,
            sqs: None,
            s3: None,
            sns: None,
            home_region,
            factory,
        }
    }

    /// The adapters of one account and region, on `gate`'s lanes: the one place they are made.
    pub fn at(&self, scope: &ClientScope<'_>, gate: &Arc<Gate>) -> Aws {
        let label = scope.account.unwrap_or("own");
        Aws::new((self.factory)(scope), gate, label, scope.region)
    }
}

/// The audit clients' retry settings: adaptive (client-side rate limiting once AWS throttles),
/// five attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(5)
}

/// The factory of an audit's per-account, per-region clients.
fn region_clients(base: SdkConfig) -> ClientFactory {
    Arc::new(move |scope: &ClientScope<'_>| {
        let mut b = base
            .to_builder()
            .region(Region::new(scope.region.to_owned()));
        if let Some(session) = scope.credentials {
            b = b.credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                session.credentials().clone(),
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
        RegionClients {
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
    })
}

/// The S3 client that stores reports; path-style addressing where an endpoint is set (a local
/// S3 has no bucket DNS names).
fn s3_client(sdk_config: &SdkConfig) -> aws_sdk_s3::Client {
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
