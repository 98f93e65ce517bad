//! createSecret: make room, record the intent, create the new key, store it as AWSPENDING.

use super::plan::{self, Block, Decision, Intent, RoomInput, INTENT_KEYS_TAG, INTENT_TOKEN_TAG};
use super::Invocation;
use crate::aws::{iam, secrets};
use crate::error::ErrorKind;
use crate::metrics::RotationMetrics;
use tracing::info;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<(), ErrorKind> {
    // Parse AWSCURRENT first: a malformed secret fails before IAM is touched.
    let current = inv.read_current().await?;
    if inv.read_pending().await?.is_some() {
        info!(secret_id = %inv.arn(), step = "createSecret", token = ?inv.token(),
              "AWSPENDING already holds a key; nothing to do");
        return Ok(());
    }
    let iam_client = inv.iam_for(&current).await?;
    let user = current.user_name.as_str();
    let keys = super::list_user_keys(&iam_client, user).await?;
    let tags = iam::user_tags(&iam_client, user).await?;
    let intent = Intent::from_tags(|k| tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str()))
        .filter(|i| i.token == inv.token());
    let current_id = current.access_key_id.as_deref();
    if current_id.is_some_and(|id| !keys.iter().any(|k| k.id == id)) {
        info!(secret_id = %inv.arn(), user = %user, key_id = current_id.unwrap_or("none"),
              "the AWSCURRENT key no longer exists in IAM");
    }
    let replaced_at = keys
        .iter()
        .find(|k| Some(k.id.as_str()) == current_id)
        .and_then(|k| k.created)
        .or_else(|| {
            current
                .create_date
                .as_deref()
                .and_then(crate::time::parse_rfc3339)
        });

    let mut input = RoomInput {
        keys: &keys,
        current: current_id,
        previous: current.previous_access_key_id.as_deref(),
        replaced_at,
        own_intent: intent.as_ref(),
        delete_all: current.delete_all_keys_before_rotating,
        unmanaged: inv.config.unmanaged_key_action,
        previous_last_used: None,
    };
    let deletions = loop {
        match plan::plan_room(&input) {
            Decision::Proceed(d) => break d,
            Decision::NeedLastUsed(key) => {
                input.previous_last_used = Some(iam::last_used(&iam_client, &key).await?);
            }
            Decision::Block(Block::Unmanaged(keys)) => {
                return Err(ErrorKind::UnmanagedKey {
                    user: user.to_owned(),
                    keys,
                });
            }
            Decision::Block(Block::PreviousInUse { key, last_used }) => {
                return Err(ErrorKind::PreviousKeyInUse {
                    user: user.to_owned(),
                    key,
                    last_used: crate::time::rfc3339(last_used),
                });
            }
        }
    };

    for d in &deletions {
        let existed = iam::delete_key(&iam_client, user, &d.key).await?;
        if existed {
            RotationMetrics::add(&inv.metrics.keys_deleted, 1);
            if d.reason == plan::DeleteReason::Orphan {
                RotationMetrics::add(&inv.metrics.orphans_deleted, 1);
            }
        }
        info!(secret_id = %inv.arn(), step = "createSecret", user = %user, key_id = %d.key,
              reason = d.reason.as_str(), existed, "deleted access key");
    }

    let keys_before: Vec<String> = keys
        .iter()
        .filter(|k| !deletions.iter().any(|d| d.key == k.id))
        .map(|k| k.id.clone())
        .collect();
    let intent = Intent {
        token: inv.token().to_owned(),
        keys_before,
    };
    iam::tag_user(&iam_client, user, &intent.to_tags()).await?;

    let new_key = iam::create_key(&iam_client, user).await.map_err(|source| {
        if source.code_is("LimitExceeded") {
            ErrorKind::KeyLimit {
                user: user.to_owned(),
                source,
            }
        } else {
            ErrorKind::Aws(source)
        }
    })?;
    RotationMetrics::add(&inv.metrics.keys_created, 1);
    info!(secret_id = %inv.arn(), step = "createSecret", user = %user,
          key_id = %new_key.access_key_id, "created access key");

    let value = current.rotated_to(&new_key);
    secrets::put_pending(
        &inv.clients.secrets,
        inv.arn(),
        inv.token(),
        &value,
        inv.event.rotation_token.as_ref(),
    )
    .await?;
    info!(secret_id = %inv.arn(), step = "createSecret", token = ?inv.token(),
          key_id = %new_key.access_key_id, previous_key_id = current_id.unwrap_or("none"),
          "stored new key as AWSPENDING");

    // The intent is spent: the key is in the secret now. A leftover tag is harmless (a later
    // rotation has another token), so a failure here does not fail the step.
    if let Err(e) = iam::untag_user(&iam_client, user, &[INTENT_TOKEN_TAG, INTENT_KEYS_TAG]).await {
        inv.warn_best_effort("clearing the intent tag", &e);
    }
    Ok(())
}
