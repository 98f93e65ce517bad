//! The decisions of `remove-root-keys`, as pure functions: what the event asks for, which
//! accounts it may touch, what an AssumeRoot refusal means, what to do with each root key and
//! what an account's outcome is. No AWS call here; `super` reads the facts and carries out the
//! answers.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

/// The AWS managed task policy that scopes a root session to reading the root user's
/// credentials (`iam:ListAccessKeys` among them, no delete): a report-only run's.
pub const AUDIT_TASK_POLICY: &str = "root-task/IAMAuditRootUserCredentials";
/// The AWS managed task policy that scopes a root session to deleting the root user's
/// credentials (access keys among them): a remediating run's only.
pub const DELETE_TASK_POLICY: &str = "root-task/IAMDeleteRootUserCredentials";

/// The task policy a run asks AssumeRoot for: the delete policy only when remediating. The
/// stack's role allows exactly this one (its `sts:TaskPolicyArn` condition follows the same
/// parameter), so a run that only reports cannot open a session that deletes.
pub fn task_policy(remediate: bool) -> &'static str {
    if remediate {
        DELETE_TASK_POLICY
    } else {
        AUDIT_TASK_POLICY
    }
}

/// The task policy's ARN in `partition` (aws, aws-cn, aws-us-gov).
pub fn task_policy_arn(partition: &str, remediate: bool) -> String {
    format!("arn:{partition}:iam::aws:policy/{}", task_policy(remediate))
}

/// What an invocation covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every ACTIVE account of the Organization (the schedule).
    Organization,
    /// One account (`{"Account": "123456789012"}`).
    Account(String),
}

/// An event the function does not act on; nothing is called.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    #[error("\"Account\" must be a 12-digit AWS account id, not {0}")]
    NotAnAccountId(String),
    #[error(
        "expected an EventBridge \"Scheduled Event\" or {{\"Account\": \"<12-digit id>\"}}, got {0}"
    )]
    Unrecognised(String),
}

/// At most this many characters of a bad input are repeated in an error, escaped.
const SHOWN: usize = 80;

fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

pub use crate::arn::is_account_id;

/// The scope an event asks for: a scheduled event (source `aws.events`), or an object whose
/// only field is `Account`, a 12-digit id. Anything else is refused.
pub fn scope_of(event: &Value) -> Result<Scope, EventError> {
    let Some(fields) = event.as_object() else {
        return Err(EventError::Unrecognised(shown(event)));
    };
    if event["detail-type"] == "Scheduled Event" && event["source"] == "aws.events" {
        return Ok(Scope::Organization);
    }
    match (fields.len(), fields.get("Account")) {
        (1, Some(Value::String(id))) if is_account_id(id) => Ok(Scope::Account(id.clone())),
        (1, Some(other)) => Err(EventError::NotAnAccountId(shown(other))),
        _ => Err(EventError::Unrecognised(shown(event))),
    }
}

/// The accounts to visit: every ACTIVE account, or the one the event names if it is one of
/// them (`Err` with the id otherwise: an account outside the Organization, or not ACTIVE).
pub fn accounts_to_visit(scope: &Scope, active: &[String]) -> Result<Vec<String>, String> {
    match scope {
        Scope::Organization => Ok(active.to_vec()),
        Scope::Account(id) if active.contains(id) => Ok(vec![id.clone()]),
        Scope::Account(id) => Err(id.clone()),
    }
}

/// Whether an account's root session is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Open,
    /// Never touched: the reason.
    Skip(&'static str),
}

pub const MANAGEMENT_ACCOUNT: &str = "the management account: its root user's keys are reported \
     by the audit only (AssumeRoot reaches member accounts only), never deleted here";
pub const OWN_ACCOUNT: &str = "the account this function runs in (IAM delegated administrator): \
     its root user's keys are reported by the audit only, never deleted here";

/// The management account and the function's own account are never touched.
pub fn target(account: &str, management: &str, own: &str) -> Target {
    if account == management {
        Target::Skip(MANAGEMENT_ACCOUNT)
    } else if account == own {
        Target::Skip(OWN_ACCOUNT)
    } else {
        Target::Open
    }
}

pub const REFUSED: &str = "not remediable: AssumeRoot refused (AccessDenied). Either \
     centralized root access is not enabled for the Organization (check that aws iam \
     list-organizations-features lists RootCredentialsManagement and RootSessions; enable them \
     with aws iam enable-organizations-root-credentials-management and \
     enable-organizations-root-sessions), or an explicit deny blocks the call: \
     an SCP on this account or the target account, a permissions boundary or policy of the \
     function's role, or a role whose sts:TaskPolicyArn condition does not allow the task \
     policy asked for (RemediateRootKeys changed in the environment but not in the stack); \
     the CloudTrail AssumeRoot event names the denying policy type";

/// An AssumeRoot refusal (AccessDenied) is what an account without centralized root access
/// answers, and also what an explicit deny (SCP, boundary) answers: reported as not
/// remediable, not as a failure, and counted (`RootKeyAccountsNotRemediable`, alarmed). Any
/// other error is a failure.
pub fn refusal_means_not_enabled(code: Option<&str>) -> bool {
    matches!(code, Some("AccessDenied" | "AccessDeniedException"))
}

/// What happens to one root access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Report,
    Delete,
}

pub fn key_action(remediate: bool) -> KeyAction {
    if remediate {
        KeyAction::Delete
    } else {
        KeyAction::Report
    }
}

/// What happened to one root access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOutcome {
    Reported,
    Deleted,
    /// Gone between the listing and the deletion.
    AlreadyGone,
    DeleteFailed,
}

/// An account's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    NoRootKeys,
    RootKeysPresent,
    RootKeysDeleted,
    NotRemediable,
    Skipped,
    Error,
}

/// An opened account's status from what happened to its root keys.
pub fn account_status(keys: &[KeyOutcome]) -> Status {
    if keys.is_empty() {
        Status::NoRootKeys
    } else if keys.contains(&KeyOutcome::DeleteFailed) {
        Status::Error
    } else if keys.contains(&KeyOutcome::Reported) {
        Status::RootKeysPresent
    } else {
        Status::RootKeysDeleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_only_run_asks_for_the_audit_policy_and_only_remediation_for_the_delete_one() {
        for partition in ["aws", "aws-cn", "aws-us-gov"] {
            assert_eq!(
                task_policy_arn(partition, false),
                format!("arn:{partition}:iam::aws:policy/root-task/IAMAuditRootUserCredentials")
            );
            assert_eq!(
                task_policy_arn(partition, true),
                format!("arn:{partition}:iam::aws:policy/root-task/IAMDeleteRootUserCredentials")
            );
        }
    }

    #[test]
    fn a_schedule_covers_the_organization_and_an_account_event_one_account() {
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                               "detail": {}, "account": "999999999999"});
        assert_eq!(scope_of(&scheduled), Ok(Scope::Organization));
        assert_eq!(
            scope_of(&json!({"Account": "123456789012"})),
            Ok(Scope::Account("123456789012".into()))
        );
    }

    #[test]
    fn bad_events_are_refused_naming_the_cause() {
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            " 123456789012",
            "",
        ] {
            let e = scope_of(&json!({ "Account": bad })).unwrap_err();
            assert!(matches!(e, EventError::NotAnAccountId(_)), "{bad}: {e}");
            assert!(e.to_string().contains("12-digit"), "{e}");
        }
        assert!(matches!(
            scope_of(&json!({"Account": 123456789012u64})),
            Err(EventError::NotAnAccountId(_))
        ));
        for bad in [
            json!({}),
            json!(null),
            json!("123456789012"),
            json!({"Account": "123456789012", "Remediate": true}),
            json!({"account": "123456789012"}),
            json!({"source": "evil", "detail-type": "Scheduled Event"}),
        ] {
            let e = scope_of(&bad).unwrap_err();
            assert!(matches!(e, EventError::Unrecognised(_)), "{bad}: {e}");
        }
        // A long input is cut, and quotes stay escaped.
        let long = "\"".repeat(500);
        let e = scope_of(&json!({ "Account": long }))
            .unwrap_err()
            .to_string();
        assert!(
            e.len() < 300 && e.contains("\\\"") && e.ends_with('…'),
            "{e}"
        );
    }

    #[test]
    fn only_active_accounts_of_the_organization_are_visited() {
        let active = vec!["111111111111".to_owned(), "222222222222".to_owned()];
        assert_eq!(
            accounts_to_visit(&Scope::Organization, &active),
            Ok(active.clone())
        );
        assert_eq!(
            accounts_to_visit(&Scope::Account("222222222222".into()), &active),
            Ok(vec!["222222222222".to_owned()])
        );
        assert_eq!(
            accounts_to_visit(&Scope::Account("333333333333".into()), &active),
            Err("333333333333".to_owned())
        );
    }

    #[test]
    fn the_management_and_own_accounts_are_never_opened() {
        let (mgmt, own, member) = ("111111111111", "222222222222", "333333333333");
        assert_eq!(target(mgmt, mgmt, own), Target::Skip(MANAGEMENT_ACCOUNT));
        assert_eq!(target(mgmt, mgmt, mgmt), Target::Skip(MANAGEMENT_ACCOUNT));
        assert_eq!(target(own, mgmt, own), Target::Skip(OWN_ACCOUNT));
        assert_eq!(target(member, mgmt, own), Target::Open);
        assert_eq!(target(member, mgmt, mgmt), Target::Open);
    }

    #[test]
    fn only_a_refusal_means_centralized_root_access_is_off() {
        assert!(refusal_means_not_enabled(Some("AccessDenied")));
        assert!(refusal_means_not_enabled(Some("AccessDeniedException")));
        for other in [
            Some("Throttling"),
            Some("RegionDisabledException"),
            Some("ExpiredTokenException"),
            None,
        ] {
            assert!(!refusal_means_not_enabled(other), "{other:?}");
        }
    }

    #[test]
    fn keys_are_deleted_only_when_remediating() {
        assert_eq!(key_action(false), KeyAction::Report);
        assert_eq!(key_action(true), KeyAction::Delete);
    }

    #[test]
    fn an_account_status_follows_its_keys() {
        use KeyOutcome::*;
        assert_eq!(account_status(&[]), Status::NoRootKeys);
        assert_eq!(
            account_status(&[Reported, Reported]),
            Status::RootKeysPresent
        );
        assert_eq!(
            account_status(&[Deleted, AlreadyGone]),
            Status::RootKeysDeleted
        );
        assert_eq!(account_status(&[Deleted, DeleteFailed]), Status::Error);
        assert_eq!(
            serde_json::to_value(Status::NotRemediable).unwrap(),
            "NOT_REMEDIABLE"
        );
        assert_eq!(serde_json::to_value(AlreadyGone).unwrap(), "already-gone");
    }
}
