//! createSecret: check the binding, record the intent, make room, create the new key, store it
//! as AWSPENDING.

use super::intent::{Intent, INTENT_TAG};
use super::plan::{self, Block, Decision, RoomInput};
use super::{BoundUser, Invocation};
use crate::aws::iam::{AccessKey, LastUse};
use crate::rotation::error::ErrorKind;
use crate::rotation::metrics::RotationMetrics;
use crate::secret::AccessKeySecret;
use std::collections::{HashMap, HashSet};
use tracing::{info, warn};

pub(super) async fn run(inv: &Invocation<'_>) -> Result<(), ErrorKind> {
    // Parse AWSCURRENT first: a malformed secret fails before IAM is touched.
    let current = inv.read_current().await?;
    if inv.read_pending().await?.is_some() {
        info!(secret_id = %inv.arn(), step = "createSecret", token = ?inv.token(),
              "AWSPENDING already holds a key; nothing to do");
        return Ok(());
    }
    let user = inv.scope().bound_user(&current).await?;
    if current.delete_all_keys_before_rotating {
        warn!(secret_id = %inv.arn(), step = "createSecret", user = %user.name(),
              "DeleteAllKeysBeforeRotating in the secret's value is ignored: anyone who writes the secret controls it. An IAM administrator sets the user tag KeyRotationDeleteOtherKeys=true instead");
    }
    let keys = user.keys().await?;
    let own_intent = user.intent_of(inv.token());
    let mut own = user.own_keys(inv.arn());
    // The current key becomes the secret's own (retired by finishSecret and the sweep) only if
    // the rotator made it or the secret proves it holds it.
    if let Some(id) = current.access_key_id.as_deref() {
        if keys.iter().any(|k| k.id == id)
            && !own.contains(id)
            && inv
                .scope()
                .proves_possession(&current, &user.info.arn)
                .await
        {
            info!(secret_id = %inv.arn(), step = "createSecret", key_id = %id,
                  "the secret proved it holds its current key");
            own.insert(id.to_owned());
        }
    }
    let deletions = plan_room(inv, &user, &current, &keys, own_intent.as_ref(), &own).await?;

    // Record the intent before anything changes: the keys the user has now, less the orphans
    // of this token (about to go), so a retry of this token can tell a key this attempt made.
    let orphans: HashSet<&str> = deletions
        .iter()
        .filter(|d| d.reason == plan::DeleteReason::Orphan)
        .map(|d| d.key.as_str())
        .collect();
    let intent = Intent::new(
        inv.token(),
        crate::time::now_secs(),
        keys.iter()
            .filter(|k| !orphans.contains(k.id.as_str()))
            .map(|k| k.id.clone())
            .collect(),
    );
    // In the same TagUser, the keys already the secret's own that IAM lists, with the current key
    // when the secret has just proved it holds it (its first rotation): recorded before anything
    // changes, so that the proof is never lost whatever fails later.
    let mut tags = vec![(INTENT_TAG, intent.to_tag_value())];
    let on_record = user.own_keys(inv.arn());
    if own.iter().any(|k| !on_record.contains(k)) {
        tags.push(BoundUser::own_keys_record(
            inv.arn(),
            &keys,
            |k| own.contains(k),
            None,
        ));
    }
    user.iam
        .tag_user(user.name(), &tags)
        .await
        .map_err(|source| {
            if source.retryable {
                ErrorKind::Aws(source)
            } else {
                ErrorKind::IntentNotRecorded {
                    user: user.name().to_owned(),
                    tag: INTENT_TAG,
                    source,
                }
            }
        })?;

    match delete_and_create(inv, &user, &keys, &deletions).await {
        Ok(new_key) => {
            // Stored first: until the value is there the open intent marks the key as this
            // attempt's orphan, which a retry deletes. Then one TagUser records the key as the
            // secret's own and completes the intent with it, so that the intent names this key
            // and no other, and finishSecret knows the key this token made without a proof. A
            // completed intent is only ever written for a version whose value the rotator
            // stored: a writer who stores a value under the token first (after a failed store)
            // gets an open intent, and finishSecret then asks the version to prove it holds the
            // key's secret.
            let value = current.rotated_to(&new_key);
            inv.aws
                .secrets
                .put_pending(
                    inv.arn(),
                    inv.token(),
                    &value,
                    inv.event.rotation_token.as_ref(),
                )
                .await?;
            inv.scope().stored(inv.token(), &value);
            info!(secret_id = %inv.arn(), step = "createSecret", token = ?inv.token(),
                  key_id = %new_key.access_key_id,
                  previous_key_id = current.access_key_id.as_deref().unwrap_or("none"),
                  "stored new key as AWSPENDING");
            let deleted: HashSet<&str> = deletions.iter().map(|d| d.key.as_str()).collect();
            let record = BoundUser::own_keys_record(
                inv.arn(),
                &keys,
                |k| own.contains(k) && !deleted.contains(k),
                Some(&new_key.access_key_id),
            );
            // A failure here leaves the key stored and the intent open: finishSecret then has
            // the version prove it holds the key's secret, and records the key itself.
            if let Err(e) = user
                .iam
                .tag_user(
                    user.name(),
                    &[
                        record,
                        (
                            INTENT_TAG,
                            intent.completed(&new_key.access_key_id).to_tag_value(),
                        ),
                    ],
                )
                .await
            {
                inv.scope()
                    .warn_best_effort("recording the new key on the user", &e);
            }
            Ok(())
        }
        // A key may exist that only the intent identifies: keep it for the retry.
        Err(Failure::KeepIntent(e)) => Err(e),
        // No key of this attempt exists: a key that appears before the retry is not its own.
        Err(Failure::ClearIntent(e)) => {
            clear_intent(inv, &user).await;
            Err(e)
        }
    }
}

/// Asks the planner, answering its questions, until it decides.
async fn plan_room(
    inv: &Invocation<'_>,
    user: &BoundUser,
    current: &AccessKeySecret,
    keys: &[AccessKey],
    own_intent: Option<&Intent>,
    own: &HashSet<String>,
) -> Result<Vec<plan::Deletion>, ErrorKind> {
    let current_id = current.access_key_id.as_deref();
    if current_id.is_some_and(|id| !keys.iter().any(|k| k.id == id)) {
        warn!(secret_id = %inv.arn(), user = %user.name(), key_id = current_id.unwrap_or("none"),
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
    let mut version_keys: Option<HashSet<String>> = None;
    let mut last_used: HashMap<String, LastUse> = HashMap::new();
    let delete_all = user.delete_other_keys();
    loop {
        let input = RoomInput {
            keys,
            current: current_id,
            previous: current.previous_access_key_id.as_deref(),
            replaced_at,
            own_intent,
            delete_all,
            unmanaged: inv.config.unmanaged_key_action,
            version_keys: version_keys.as_ref(),
            last_used: &last_used,
            own,
        };
        match plan::plan_room(&input) {
            Decision::Proceed(d) => return Ok(d),
            Decision::NeedVersionKeys => {
                version_keys = Some(inv.scope().version_keys(Some(inv.token())).await?)
            }
            Decision::NeedLastUsed(key) => {
                let used = user.iam.last_used(&key).await?;
                last_used.insert(key, used);
            }
            Decision::Block(block) => return Err(blocked(user.name(), block)),
        }
    }
}

fn blocked(user: &str, block: Block) -> ErrorKind {
    let user = user.to_owned();
    match block {
        Block::Unmanaged(keys) => ErrorKind::UnmanagedKey { user, keys },
        Block::InUse { key, last_used } => ErrorKind::PreviousKeyInUse {
            user,
            key,
            last_used: crate::time::rfc3339(last_used),
        },
    }
}

enum Failure {
    /// CreateAccessKey may have made a key, or an orphan of this token is still there.
    KeepIntent(ErrorKind),
    /// No key this token made exists.
    ClearIntent(ErrorKind),
}

async fn delete_and_create(
    inv: &Invocation<'_>,
    user: &BoundUser,
    keys: &[AccessKey],
    deletions: &[plan::Deletion],
) -> Result<crate::secret::NewAccessKey, Failure> {
    let orphans_left = |from: usize| {
        deletions[from..]
            .iter()
            .any(|d| d.reason == plan::DeleteReason::Orphan)
    };
    for (i, d) in deletions.iter().enumerate() {
        let was_active = keys.iter().find(|k| k.id == d.key).map(|k| k.is_active());
        let existed = user
            .iam
            .delete_key(user.name(), &d.key)
            .await
            .map_err(|e| {
                if orphans_left(i) {
                    Failure::KeepIntent(e.into())
                } else {
                    Failure::ClearIntent(e.into())
                }
            })?;
        if existed {
            RotationMetrics::add(&inv.metrics.keys_deleted, 1);
            if d.reason == plan::DeleteReason::Orphan {
                RotationMetrics::add(&inv.metrics.orphans_deleted, 1);
            }
        }
        warn!(secret_id = %inv.arn(), step = "createSecret", user = %user.info.arn,
              key_id = %d.key, reason = d.reason.as_str(), existed,
              previous_status = was_active.map_or("unknown", |a| if a { "Active" } else { "Inactive" }),
              "deleted access key");
    }
    let new_key = user.iam.create_key(user.name()).await.map_err(|source| {
        let unknown = source.outcome_unknown;
        let kind = if source.code_is("LimitExceeded") {
            ErrorKind::KeyLimit {
                user: user.name().to_owned(),
                source,
            }
        } else {
            ErrorKind::Aws(source)
        };
        if unknown {
            Failure::KeepIntent(kind)
        } else {
            Failure::ClearIntent(kind)
        }
    })?;
    RotationMetrics::add(&inv.metrics.keys_created, 1);
    warn!(secret_id = %inv.arn(), step = "createSecret", user = %user.info.arn,
          key_id = %new_key.access_key_id, "created access key");
    Ok(new_key)
}

async fn clear_intent(inv: &Invocation<'_>, user: &BoundUser) {
    if let Err(e) = user.iam.untag_user(user.name(), &[INTENT_TAG]).await {
        inv.scope().warn_best_effort("clearing the intent tag", &e);
    }
}
