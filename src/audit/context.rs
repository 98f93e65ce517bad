//! What every stage of one audit run reads: the configuration, the AWS it reaches, the
//! invocation's gate (limits and counters), the policies verdicts are judged by, and when to
//! stop starting work. The stages (`accounts`, `kms`, `iam`, `secret_index`, `sweep`, `fanout`)
//! are methods over it; the orchestration in `run` calls them in order.

use super::config::AuditConfig;
use super::verdict::iam::IamPolicy;
use super::verdict::kms::KmsPolicy;
use crate::arn::Arn;
use crate::aws::error::AwsError;
use crate::aws::gate::{Gate, Lane};
use crate::aws::sns::Notifier;
use crate::aws::sts::Session;
use crate::aws::{AuditAws, Aws, ClientScope};
use std::sync::Arc;
use std::time::Instant;

/// The reason of a finding the audit had no time left for.
pub const NOT_AUDITED: &str = "not audited: the invocation ran out of time";

/// The name AssumeRole sessions of the audit carry (visible in CloudTrail).
pub const SESSION_NAME: &str = "key-rotation-audit";

/// An account being audited.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) id: Option<String>,
    pub(super) role: Option<String>,
    pub(super) credentials: Option<Session>,
    /// The regions audited in this account (never empty).
    pub(super) regions: Vec<String>,
}

impl Account {
    pub(super) fn label(&self) -> &str {
        self.id.as_deref().unwrap_or("own")
    }
}

/// One invocation's shared state.
pub(super) struct Ctx<'a> {
    pub(super) config: &'a AuditConfig,
    pub(super) aws: &'a AuditAws,
    pub(super) notifier: Option<&'a Notifier>,
    /// The function's own caller ARN, remembered across invocations.
    pub(super) own_arn: &'a tokio::sync::OnceCell<String>,
    pub(super) gate: Arc<Gate>,
    /// The audited regions (`AUDIT_REGIONS`, or the function's own); the first is home.
    pub(super) regions: Vec<String>,
    pub(super) kms_policy: KmsPolicy,
    pub(super) iam_policy: IamPolicy,
    /// No AWS work starts after this.
    pub(super) stop_at: Option<Instant>,
    /// The Organization's management account (DescribeOrganization, at most once a run;
    /// `None` inside: unknown).
    pub(super) management_account: tokio::sync::OnceCell<Option<String>>,
    /// The Organization's ACTIVE accounts (ListAccounts, at most once a run: the targets of a
    /// full audit and the reach of cross-account secrets ask the same question).
    pub(super) organization: tokio::sync::OnceCell<Result<Vec<String>, Arc<AwsError>>>,
    /// The rotation secrets of the function's own (central) account, listed once a run for the
    /// sweep of cross-account rotations ([`Ctx::central_secrets`]).
    pub(super) central: tokio::sync::OnceCell<super::secret_index::Central>,
}

impl Ctx<'_> {
    pub(super) fn config(&self) -> &AuditConfig {
        self.config
    }

    pub(super) fn out_of_time(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }

    /// The adapters of `account` in `region`.
    pub(super) fn aws(&self, account: &Account, region: &str) -> Aws {
        let scope = ClientScope {
            account: account.id.as_deref(),
            role_arn: account.role.as_deref(),
            region,
            credentials: account.credentials.as_ref(),
        };
        self.aws.at(&scope, &self.gate)
    }

    /// A lane of the function's own account for `service` (`own/sts`, ...).
    pub(super) fn own_lane(&self, service: &str) -> Lane {
        Lane::new(self.gate.clone(), &format!("own/{service}"))
    }

    /// The function's own caller ARN (GetCallerIdentity once, then remembered).
    pub(super) async fn own_arn(&self) -> Result<String, AwsError> {
        self.own_arn
            .get_or_try_init(|| async {
                self.aws
                    .sts
                    .through(self.own_lane("sts"))
                    .caller_arn()
                    .await
            })
            .await
            .cloned()
    }

    /// The function's own account id (from [`Ctx::own_arn`]); `Err`: why it is unknown.
    pub(super) async fn own_account_id(&self) -> Result<String, String> {
        let arn = self.own_arn().await.map_err(|e| e.code_or_message())?;
        Arn::parse(&arn)
            .and_then(|a| a.account_id())
            .map(str::to_owned)
            .ok_or_else(|| format!("GetCallerIdentity answered {arn:?}, which names no account"))
    }
}
