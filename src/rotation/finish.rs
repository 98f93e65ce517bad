//! finishSecret: move AWSCURRENT to the token, then retire the key it replaced per
//! OLD_KEY_ACTION.

use super::Invocation;
use crate::aws::{iam, secrets, secrets::AWSCURRENT};
use crate::config::OldKeyAction;
use crate::error::ErrorKind;
use crate::metrics::RotationMetrics;
use tracing::info;

pub(super) async fn run(inv: &Invocation<'_>, resumed: bool) -> Result<(), ErrorKind> {
    let pending = inv.require_pending().await?;
    if !resumed {
        let from = inv.meta.version_with(AWSCURRENT);
        if let Err(e) =
            secrets::move_current(&inv.clients.secrets, inv.arn(), inv.token(), from).await
        {
            // An earlier attempt whose answer was lost may have moved it already.
            let now = secrets::describe(&inv.clients.secrets, inv.arn()).await?;
            if now.version_with(AWSCURRENT) != Some(inv.token()) {
                return Err(e.into());
            }
        }
        info!(secret_id = %inv.arn(), step = "finishSecret", token = ?inv.token(),
              previous_version = from.unwrap_or("none"),
              key_id = pending.access_key_id.as_deref().unwrap_or("none"), "moved AWSCURRENT");
    }

    let Some(old) = pending.previous_access_key_id.as_deref() else {
        return Ok(());
    };
    if Some(old) == pending.access_key_id.as_deref() {
        return Ok(());
    }
    let iam_client = inv.iam_for(&pending).await?;
    let user = pending.user_name.as_str();
    match inv.config.old_key_action {
        OldKeyAction::Deactivate => match iam::set_active(&iam_client, user, old, false).await {
            Ok(()) => {
                RotationMetrics::add(&inv.metrics.keys_deactivated, 1);
                info!(secret_id = %inv.arn(), step = "finishSecret", user = %user, key_id = %old,
                      grace_days = inv.config.old_key_grace_days, "deactivated replaced key");
            }
            Err(e) if e.code_is("NoSuchEntity") => {
                info!(secret_id = %inv.arn(), step = "finishSecret", user = %user, key_id = %old,
                      "replaced key is already gone");
            }
            Err(e) => return Err(e.into()),
        },
        OldKeyAction::Delete => {
            let existed = iam::delete_key(&iam_client, user, old).await?;
            if existed {
                RotationMetrics::add(&inv.metrics.keys_deleted, 1);
            }
            info!(secret_id = %inv.arn(), step = "finishSecret", user = %user, key_id = %old,
                  existed, "deleted replaced key");
        }
    }
    Ok(())
}
