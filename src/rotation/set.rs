//! setSecret: IAM keys are live when created, so only check that the pending key exists and is
//! Active.

use super::Invocation;
use crate::error::ErrorKind;
use tracing::info;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<(), ErrorKind> {
    let pending = inv.require_pending().await?;
    let key_id = pending
        .access_key_id
        .clone()
        .ok_or(ErrorKind::IncompleteKey {
            stage: "AWSPENDING",
        })?;
    let iam_client = inv.iam_for(&pending).await?;
    let user = pending.user_name.as_str();
    let keys = super::list_user_keys(&iam_client, user).await?;
    match keys.iter().find(|k| k.id == key_id) {
        None => Err(ErrorKind::PendingKeyMissing {
            user: user.to_owned(),
            key: key_id,
        }),
        Some(k) if !k.active => Err(ErrorKind::PendingKeyInactive {
            user: user.to_owned(),
            key: key_id,
        }),
        Some(_) => {
            info!(secret_id = %inv.arn(), step = "setSecret", user = %user, key_id = %key_id,
                  "pending key exists and is Active");
            Ok(())
        }
    }
}
