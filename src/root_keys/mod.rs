//! `remove-root-keys`: the root user's access keys of the Organization's member accounts,
//! listed through a privileged root session (`sts:AssumeRoot`, scoped by the AWS task policy
//! `IAMAuditRootUserCredentials`) and, with `REMEDIATE_ROOT_KEYS=true` only, deleted (the
//! session then scoped by `IAMDeleteRootUserCredentials`, the only one the stack then allows). Deployed in
//! the management account or the IAM delegated-administrator account only. The decisions are
//! in [`plan`]; this module reads the facts, carries them out and reports.

pub mod plan;

use crate::aws::error::AwsError;
use crate::aws::iam::AccessKey;
use crate::aws::sns::{Notice, NoticeKind, Notifier};
use crate::aws::RootKeysAws;
use crate::emf::MetricsSink;
use crate::settings::{parse_var, ConfigError, Shared};
use lambda_runtime::Diagnostic;
use plan::{EventError, KeyAction, KeyOutcome, Status, Target};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;
use tracing::{error, info, warn};

/// The function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKeysConfig {
    /// `REMEDIATE_ROOT_KEYS`: delete the keys (`true`) or only report them (`false`, default).
    pub remediate: bool,
    /// `NOTIFY_TOPIC_ARN`, `METRICS_NAMESPACE` (and the shared settings it does not use).
    pub shared: Shared,
}

impl RootKeysConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|k: &str| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            remediate: parse_var(
                lookup,
                "REMEDIATE_ROOT_KEYS",
                false,
                "true or false",
                |v| match v.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                },
            )?,
            shared: Shared::from_lookup(lookup)?,
        })
    }
}

/// A failed invocation: nothing in any member account was touched.
#[derive(Debug, Error)]
pub enum RootKeysError {
    #[error("invalid event: {0}; nothing was done")]
    InvalidEvent(#[from] EventError),
    #[error(
        "account {0} is not an ACTIVE account of this Organization; nothing was done \
         (an event naming an account outside the Organization may be an attempt to misuse the function)"
    )]
    AccountNotInOrganization(String),
    /// The function's own account, the management account or the Organization's accounts
    /// could not be read: no account was visited.
    #[error("the Organization could not be read ({0}); no account was visited")]
    OrganizationUnreadable(String),
}

impl RootKeysError {
    pub fn error_type(&self) -> &'static str {
        match self {
            RootKeysError::InvalidEvent(_) => "RootKeys.InvalidEvent",
            RootKeysError::AccountNotInOrganization(_) => "RootKeys.AccountNotInOrganization",
            RootKeysError::OrganizationUnreadable(_) => "RootKeys.OrganizationUnreadable",
        }
    }

    fn unreadable(e: AwsError) -> Self {
        RootKeysError::OrganizationUnreadable(e.to_string())
    }
}

impl From<RootKeysError> for Diagnostic {
    fn from(e: RootKeysError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// One root access key as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFinding {
    pub key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// RFC 3339.
    pub created: Option<String>,
    pub outcome: KeyOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One account's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountFinding {
    pub account: String,
    pub status: Status,
    pub reason: String,
    pub keys: Vec<KeyFinding>,
}

/// What an invocation returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub remediate: bool,
    /// Accounts by status (every status present).
    pub summary: BTreeMap<Status, usize>,
    pub keys_found: usize,
    pub keys_deleted: usize,
    pub findings: Vec<AccountFinding>,
}

impl Report {
    fn new(remediate: bool, findings: Vec<AccountFinding>) -> Self {
        let mut summary: BTreeMap<Status, usize> = [
            Status::NoRootKeys,
            Status::RootKeysPresent,
            Status::RootKeysDeleted,
            Status::NotRemediable,
            Status::Skipped,
            Status::Error,
        ]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
        for f in &findings {
            *summary.entry(f.status).or_default() += 1;
        }
        let keys = || findings.iter().flat_map(|f| &f.keys);
        Self {
            remediate,
            summary,
            keys_found: keys().count(),
            keys_deleted: keys().filter(|k| k.outcome == KeyOutcome::Deleted).count(),
            findings,
        }
    }

    pub fn count(&self, status: Status) -> usize {
        self.summary.get(&status).copied().unwrap_or(0)
    }
}

/// The function: its clients, settings, notifier and metrics sink.
pub struct RootKeyRemover {
    aws: RootKeysAws,
    config: RootKeysConfig,
    notifier: Option<Notifier>,
    metrics: MetricsSink,
}

impl RootKeyRemover {
    pub fn new(aws: RootKeysAws, config: RootKeysConfig) -> Self {
        let notifier = match (&aws.sns, &config.shared.notify_topic_arn) {
            (Some(sns), Some(topic)) => Some(Notifier::on(sns.clone(), topic)),
            _ => None,
        };
        Self {
            aws,
            config,
            notifier,
            metrics: crate::emf::stdout(),
        }
    }

    /// Where the EMF documents go (tests: a buffer).
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = sink;
        self
    }

    /// One invocation: the event is checked before any AWS call, the account it names against
    /// the Organization before any root session.
    pub async fn handle(&self, event: Value, request_id: &str) -> Result<Report, RootKeysError> {
        let scope = plan::scope_of(&event).inspect_err(|e| error!(error = %e, "event refused"))?;
        let caller = self
            .aws
            .sts
            .caller_arn()
            .await
            .map_err(RootKeysError::unreadable)?;
        let (partition, own) = crate::arn::Arn::parse(&caller)
            .and_then(|a| Some((a.partition.to_owned(), a.account_id()?.to_owned())))
            .ok_or_else(|| {
                RootKeysError::OrganizationUnreadable(format!(
                    "GetCallerIdentity answered {caller:?}, not an ARN with an account"
                ))
            })?;
        let org = &self.aws.organizations;
        let management = org
            .management_account()
            .await
            .map_err(RootKeysError::unreadable)?
            .ok_or_else(|| {
                RootKeysError::OrganizationUnreadable(
                    "DescribeOrganization named no management account".to_owned(),
                )
            })?;
        let active = org
            .active_accounts()
            .await
            .map_err(RootKeysError::unreadable)?;
        let accounts = plan::accounts_to_visit(&scope, &active).map_err(|id| {
            let e = RootKeysError::AccountNotInOrganization(id);
            error!(error = %e, "event refused");
            e
        })?;
        let task_policy = plan::task_policy_arn(&partition, self.config.remediate);
        let mut findings = Vec::with_capacity(accounts.len());
        for account in accounts {
            let finding = match plan::target(&account, &management, &own) {
                Target::Skip(reason) => AccountFinding {
                    account,
                    status: Status::Skipped,
                    reason: reason.to_owned(),
                    keys: Vec::new(),
                },
                Target::Open => self.visit(account, &task_policy, request_id).await,
            };
            info!(account = %finding.account, status = ?finding.status, reason = %finding.reason,
                  keys = finding.keys.len(), "root access keys");
            findings.push(finding);
        }
        let report = Report::new(self.config.remediate, findings);
        self.emit_metrics(&report);
        info!(remediate = report.remediate, summary = ?report.summary, keys_found = report.keys_found,
              keys_deleted = report.keys_deleted, "root access keys: run finished");
        Ok(report)
    }

    /// One member account: its root session, its root keys, and their deletion when remediating.
    async fn visit(&self, account: String, task_policy: &str, request_id: &str) -> AccountFinding {
        let session = match self.aws.sts.assume_root(&account, task_policy).await {
            Ok(s) => s,
            Err(e) => {
                let not_enabled = plan::refusal_means_not_enabled(e.code.as_deref());
                let (status, reason) = if not_enabled {
                    (Status::NotRemediable, format!("{}: {e}", plan::REFUSED))
                } else {
                    (Status::Error, e.to_string())
                };
                return AccountFinding {
                    account,
                    status,
                    reason,
                    keys: Vec::new(),
                };
            }
        };
        let iam = self.aws.root_iam(&session);
        let listed = match iam.list_own_keys().await {
            Ok(keys) => keys,
            Err(e) => {
                return AccountFinding {
                    account,
                    status: Status::Error,
                    reason: e.to_string(),
                    keys: Vec::new(),
                }
            }
        };
        let mut keys = Vec::with_capacity(listed.len());
        for key in &listed {
            let (outcome, error) = match plan::key_action(self.config.remediate) {
                KeyAction::Report => (KeyOutcome::Reported, None),
                KeyAction::Delete => match iam.delete_own_key(&key.id).await {
                    Ok(true) => {
                        warn!(account = %account, access_key_id = %key.id,
                              "root user access key deleted (REMEDIATE_ROOT_KEYS=true)");
                        (KeyOutcome::Deleted, None)
                    }
                    Ok(false) => (KeyOutcome::AlreadyGone, None),
                    Err(e) => {
                        error!(account = %account, access_key_id = %key.id, error = %e,
                               "root user access key could not be deleted");
                        (KeyOutcome::DeleteFailed, Some(e.to_string()))
                    }
                },
            };
            keys.push(key_finding(key, outcome, error));
        }
        let outcomes: Vec<KeyOutcome> = keys.iter().map(|k| k.outcome).collect();
        let status = plan::account_status(&outcomes);
        let reason = match status {
            Status::NoRootKeys => "the root user has no access key".to_owned(),
            Status::RootKeysPresent => format!(
                "the root user has {} access key(s); REMEDIATE_ROOT_KEYS=false: reported only",
                keys.len()
            ),
            Status::RootKeysDeleted => "the root user's access keys were deleted".to_owned(),
            _ => "a root user access key could not be deleted".to_owned(),
        };
        let deleted: Vec<String> = keys
            .iter()
            .filter(|k| k.outcome == KeyOutcome::Deleted)
            .map(|k| k.key_id.clone())
            .collect();
        if let (Some(notifier), false) = (&self.notifier, deleted.is_empty()) {
            notifier
                .publish(&Notice {
                    kind: NoticeKind::RootAccessKeysDeleted,
                    account: Some(account.clone()),
                    secret: None,
                    user: Some("root".to_owned()),
                    key_ids: deleted,
                    reason: format!(
                        "deleted through a root session (sts:AssumeRoot, {}); Lambda request id {request_id}",
                        plan::DELETE_TASK_POLICY
                    ),
                })
                .await;
        }
        AccountFinding {
            account,
            status,
            reason,
            keys,
        }
    }

    /// One EMF document per run.
    fn emit_metrics(&self, report: &Report) {
        let doc = crate::emf::emf(
            &self.config.shared.metrics_namespace,
            u64::try_from(crate::time::now_secs()).unwrap_or(0) * 1000,
            &[("Function", FUNCTION)],
            &[
                ("RootKeysFound", report.keys_found as u64),
                ("RootKeysDeleted", report.keys_deleted as u64),
                (
                    "RootKeyAccountsNotRemediable",
                    report.count(Status::NotRemediable) as u64,
                ),
                ("RootKeyAccountErrors", report.count(Status::Error) as u64),
            ],
        );
        (self.metrics)(&doc);
    }
}

/// The `Function` dimension of the metrics.
pub const FUNCTION: &str = "remove-root-keys";

fn key_finding(key: &AccessKey, outcome: KeyOutcome, error: Option<String>) -> KeyFinding {
    KeyFinding {
        key_id: key.id.clone(),
        status: key.status.clone(),
        created: key.created.map(crate::time::rfc3339),
        outcome,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::lookup;

    #[test]
    fn report_only_unless_set_to_true_and_nothing_but_true_or_false() {
        let cfg = |pairs: &[(&str, &str)]| RootKeysConfig::from_lookup(&lookup(pairs));
        assert!(!cfg(&[]).unwrap().remediate);
        assert!(!cfg(&[("REMEDIATE_ROOT_KEYS", "false")]).unwrap().remediate);
        assert!(cfg(&[("REMEDIATE_ROOT_KEYS", "true")]).unwrap().remediate);
        assert!(cfg(&[("REMEDIATE_ROOT_KEYS", "TRUE")]).unwrap().remediate);
        for bad in ["1", "yes", "on", "delete", "truee"] {
            let e = cfg(&[("REMEDIATE_ROOT_KEYS", bad)]).unwrap_err();
            assert_eq!(e.var, "REMEDIATE_ROOT_KEYS", "{bad}");
            assert!(e.to_string().contains("true or false"), "{e}");
        }
    }

    #[test]
    fn the_report_counts_every_status_and_the_keys() {
        let key = |outcome| KeyFinding {
            key_id: "AKIAROOT".into(),
            status: "Active".into(),
            created: None,
            outcome,
            error: None,
        };
        let report = Report::new(
            true,
            vec![
                AccountFinding {
                    account: "111111111111".into(),
                    status: Status::RootKeysDeleted,
                    reason: String::new(),
                    keys: vec![key(KeyOutcome::Deleted), key(KeyOutcome::AlreadyGone)],
                },
                AccountFinding {
                    account: "222222222222".into(),
                    status: Status::NotRemediable,
                    reason: String::new(),
                    keys: Vec::new(),
                },
            ],
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["summary"],
            serde_json::json!({"NO_ROOT_KEYS": 0, "ROOT_KEYS_PRESENT": 0, "ROOT_KEYS_DELETED": 1,
                               "NOT_REMEDIABLE": 1, "SKIPPED": 0, "ERROR": 0})
        );
        assert_eq!(
            (json["keys_found"].as_u64(), json["keys_deleted"].as_u64()),
            (Some(2), Some(1))
        );
        assert_eq!(json["findings"][0]["keys"][1]["outcome"], "already-gone");
        assert!(json["findings"][0]["keys"][0].get("error").is_none());
    }

    #[test]
    fn errors_have_stable_types() {
        let e = RootKeysError::from(EventError::Unrecognised("{}".into()));
        assert_eq!(Diagnostic::from(e).error_type, "RootKeys.InvalidEvent");
        let e = RootKeysError::AccountNotInOrganization("123456789012".into());
        assert_eq!(e.error_type(), "RootKeys.AccountNotInOrganization");
        assert!(e.to_string().contains("123456789012"));
        assert_eq!(
            RootKeysError::OrganizationUnreadable("x".into()).error_type(),
            "RootKeys.OrganizationUnreadable"
        );
    }
}
