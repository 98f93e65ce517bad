//! The notification an operator action's answer calls for.

use crate::aws::sns::{Notice, NoticeKind};
use crate::rotation::event::Action;
use serde_json::Value;

/// The notification an action's answer calls for: a Rollback or a Cancel that changed something
/// (a repeated Rollback that only finished the first is not announced twice).
pub fn notice(
    action: Action,
    secret_arn: &str,
    answer: &Value,
    request_id: &str,
) -> Option<Notice> {
    let text = |k: &str| answer[k].as_str().map(str::to_owned);
    let (kind, key_ids, reason) = match action {
        Action::Rollback if answer["RolledBack"] == true && answer["AlreadyDone"] != true => (
            NoticeKind::RotationRolledBack,
            [text("AccessKeyId"), text("DeactivatedAccessKeyId")]
                .into_iter()
                .flatten()
                .collect(),
            format!(
                "AWSCURRENT moved back from version {} to {}{}; rolled-back key {}",
                answer["FromVersion"].as_str().unwrap_or("?"),
                answer["ToVersion"].as_str().unwrap_or("?"),
                if answer["Reactivated"] == true {
                    ", its Inactive key reactivated on the operator's ReactivateKey"
                } else {
                    ""
                },
                if answer["DeactivatedAccessKeyId"].is_string() {
                    "made Inactive"
                } else {
                    "left as it was (not the secret's own)"
                }
            ),
        ),
        Action::Cancel if answer["Cancelled"] == true => (
            NoticeKind::RotationCancelled,
            answer["DeletedKeys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            format!(
                "the stopped rotation (version {}) was cancelled: AWSPENDING removed, its unused keys deleted",
                answer["PendingVersion"].as_str().unwrap_or("?")
            ),
        ),
        _ => return None,
    };
    let reason = if request_id.is_empty() {
        reason
    } else {
        format!("{reason} (Lambda request id {request_id})")
    };
    Some(Notice {
        kind,
        account: None,
        secret: Some(secret_arn.to_owned()),
        user: text("UserName"),
        key_ids,
        reason,
    })
}
