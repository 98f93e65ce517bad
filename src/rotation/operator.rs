//! Operator actions on a rotation secret, sent with `aws lambda invoke`: Status (read only),
//! Rollback and Cancel. Each is safe to repeat: after a failure at any call, the same action
//! again finishes what the first began. Neither ever returns or logs a secret value.

use super::intent::{Intent, INTENT_TAG};
use super::{BoundUser, Scope};
use crate::aws::iam::{AccessKey, LastUse};
use crate::aws::secrets::{self, SecretMeta, SecretValue, AWSCURRENT, AWSPENDING};
use crate::aws::sns::{Notice, NoticeKind};
use crate::binding::{
    CURRENT_KEY_TAG, DEACTIVATED_TAG, PENDING_KEY_TAG, PREVIOUS_KEY_TAG, ROLLBACK_TAG,
};
use crate::rotation::error::ErrorKind;
use crate::rotation::event::{Action, ActionEvent};
use crate::rotation::metrics::RotationMetrics;
use crate::secret::AccessKeySecret;
use crate::time::rfc3339;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tracing::{info, warn};

pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// The managed policies AWS attaches to a user whose key it found exposed
/// (`AWSCompromisedKeyQuarantine`, `AWSCompromisedKeyQuarantineV2`, …).
const QUARANTINE_POLICY_PREFIX: &str = "AWSCompromisedKeyQuarantine";

pub(super) async fn run(
    scope: &Scope<'_>,
    event: &ActionEvent,
    metrics: &RotationMetrics,
) -> Result<Value, ErrorKind> {
    match event.action {
        Action::Status => status(scope).await,
        Action::Rollback => rollback(scope, event.reactivate_key, metrics).await,
        Action::Cancel => cancel(scope, metrics).await,
    }
}

/// The version AWSPENDING is on when that is not the AWSCURRENT one: a rotation under way, or
/// one that stopped.
fn pending_version(meta: &SecretMeta) -> Option<&str> {
    meta.versions
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == AWSPENDING) && !s.iter().any(|x| x == AWSCURRENT))
        .map(|(v, _)| v.as_str())
}

fn refuse(why: impl Into<String>) -> ErrorKind {
    ErrorKind::ActionRefused(why.into())
}

/// The key id a version names, read leniently (a version that is not an access-key secret
/// names none).
async fn key_of(scope: &Scope<'_>, version: &str) -> Result<Option<String>, ErrorKind> {
    let value =
        secrets::get_value(&scope.clients.secrets, scope.arn(), Some(version), None).await?;
    Ok(match value {
        Some(SecretValue::Text(t)) => AccessKeySecret::parse(t.expose_secret())
            .ok()
            .and_then(|s| s.access_key_id),
        _ => None,
    })
}

fn last_use_json(u: &LastUse) -> Value {
    json!({
        "LastUsed": u.date.map(rfc3339),
        "LastUsedService": u.service,
        "LastUsedRegion": u.region,
    })
}

/// AWS's compromised-key quarantine policies attached to the user.
async fn quarantine(user: &BoundUser) -> Result<Vec<String>, ErrorKind> {
    Ok(user
        .iam
        .attached_policy_names(user.name())
        .await?
        .into_iter()
        .filter(|p| p.starts_with(QUARANTINE_POLICY_PREFIX))
        .collect())
}

/// Who or what made `key` Inactive, as far as this system knows.
fn deactivated_by(
    user: &BoundUser,
    meta: &SecretMeta,
    key: &str,
    version_key: &[(&str, &str)],
) -> String {
    if let Some(at) = crate::binding::deactivated_at(user.info.tag(DEACTIVATED_TAG), key) {
        return format!("the audit's sweep, at {}", rfc3339(at));
    }
    let rolled_back = last_rollback(meta).and_then(|(from, _)| {
        version_key
            .iter()
            .find(|(v, _)| *v == from)
            .map(|(_, k)| *k)
    });
    if rolled_back == Some(key) {
        return "a Rollback, as the secret's tag KeyRotationRollback says (the secret's writers can set that tag too: CloudTrail's UpdateAccessKey event names who)".to_owned();
    }
    "not recorded by this system: a person, an incident responder or another tool may have (CloudTrail's UpdateAccessKey event names who)".to_owned()
}

async fn status(scope: &Scope<'_>) -> Result<Value, ErrorKind> {
    let meta = scope.meta;
    let current = scope.read(None, AWSCURRENT).await.ok().flatten();
    let (user, bound) = match &current {
        None => (None, Value::Null),
        Some(c) => match scope.bound_user(c).await {
            Ok(u) => (Some(u), json!(true)),
            Err(e @ (ErrorKind::UserNotBound { .. } | ErrorKind::UserNotFound { .. })) => {
                (None, json!(e.to_string()))
            }
            Err(e) => return Err(e),
        },
    };
    let keys = match &user {
        Some(u) => u.keys().await?,
        None => Vec::new(),
    };
    let mut staged: Vec<(&String, &Vec<String>)> = meta
        .versions
        .iter()
        .filter(|(_, stages)| !stages.is_empty())
        .collect();
    staged.sort_by_key(|(_, stages)| {
        [AWSPENDING, AWSCURRENT, AWSPREVIOUS]
            .iter()
            .position(|s| stages.iter().any(|x| x == s))
            .unwrap_or(3)
    });
    let mut staged_keys = Vec::new();
    for (version, stages) in staged {
        staged_keys.push((version, stages, key_of(scope, version).await?));
    }
    let version_key: Vec<(&str, &str)> = staged_keys
        .iter()
        .filter_map(|(v, _, k)| Some((v.as_str(), k.as_deref()?)))
        .collect();
    let mut versions = Vec::new();
    for (version, stages, key) in &staged_keys {
        let mut entry = json!({"VersionId": version, "Stages": stages, "AccessKeyId": key});
        if let (Some(user), Some(id)) = (&user, key.as_deref()) {
            match keys.iter().find(|k| k.id == id) {
                None => entry["KeyStatus"] = json!("absent from IAM"),
                Some(k) => {
                    entry["KeyStatus"] = json!(if k.is_active() { "Active" } else { "Inactive" });
                    if !k.is_active() {
                        entry["DeactivatedBy"] =
                            json!(deactivated_by(user, meta, id, &version_key));
                    }
                    entry["OwnKey"] = json!(user.own_keys(scope.arn()).contains(id));
                    entry["KeyCreated"] = json!(k.created.map(rfc3339));
                    let used = user.iam.last_used(id).await?;
                    if let (Value::Object(e), Value::Object(u)) = (&mut entry, last_use_json(&used))
                    {
                        e.extend(u);
                    }
                }
            }
        }
        versions.push(entry);
    }
    let stuck = match pending_version(meta) {
        None => Value::Null,
        Some(p) => {
            let left_at = match key_of(scope, p).await? {
                None => "createSecret did not store a key",
                Some(_) => "createSecret stored a key; setSecret, testSecret or finishSecret did not complete",
            };
            json!({"PendingVersion": p, "LeftAt": left_at})
        }
    };
    let quarantined = match &user {
        Some(u) => json!(quarantine(u).await?),
        None => Value::Null,
    };
    Ok(json!({
        "SecretId": meta.arn,
        "QuarantinePolicies": quarantined,
        "Name": meta.name,
        "RotationEnabled": meta.rotation_enabled,
        "UserName": current.as_ref().map(|c| c.user_name.clone()),
        "Bound": bound,
        "UserKeys": keys.iter().map(|k| json!({"AccessKeyId": k.id, "Status": if k.is_active() { "Active" } else { "Inactive" }})).collect::<Vec<_>>(),
        "Versions": versions,
        "RotationInProgress": stuck,
    }))
}

/// `<from version>:<to version>` of the last Rollback.
fn last_rollback(meta: &SecretMeta) -> Option<(&str, &str)> {
    meta.tags
        .iter()
        .find(|(k, _)| k == ROLLBACK_TAG)
        .and_then(|(_, v)| v.split_once(':'))
}

async fn rollback(
    scope: &Scope<'_>,
    reactivate_key: bool,
    metrics: &RotationMetrics,
) -> Result<Value, ErrorKind> {
    let meta = scope.meta;
    let current_version = meta
        .version_with(AWSCURRENT)
        .ok_or(ErrorKind::NoCurrentVersion)?;
    let current = scope
        .read(None, AWSCURRENT)
        .await?
        .ok_or(ErrorKind::NoCurrentVersion)?;
    let user = scope.bound_user(&current).await?;
    let own = user.own_keys(scope.arn());

    // A Rollback already moved AWSCURRENT (and may have stopped there): finish it. The record
    // is a secret tag, which the secret's writers can set too: it counts only when it agrees
    // with the stages (the version it rolled back from is AWSPREVIOUS now).
    let rollback_done = last_rollback(meta).filter(|(from, to)| {
        *to == current_version && from != to && meta.version_with(AWSPREVIOUS) == Some(*from)
    });
    if let Some((from, to)) = rollback_done {
        remove_every_pending(scope).await?;
        let rolled_back = key_of(scope, from)
            .await?
            .filter(|k| Some(k.as_str()) != current.access_key_id.as_deref());
        if let Some(key) = rolled_back.as_deref().filter(|k| own.contains(*k)) {
            deactivate(scope, &user, key, metrics).await?;
        }
        record(
            scope,
            current.access_key_id.as_deref(),
            rolled_back.as_deref(),
        )
        .await;
        info!(secret_id = %scope.arn(), action = "Rollback", from_version = %from,
              to_version = %to, "already rolled back");
        return Ok(
            json!({"RolledBack": true, "AlreadyDone": true, "FromVersion": from, "ToVersion": to,
                         "AccessKeyId": current.access_key_id, "DeactivatedAccessKeyId": rolled_back,
                         "UserName": user.name()}),
        );
    }
    // Everything that can refuse is read and decided before anything changes.
    if let Some(p) = pending_version(meta) {
        return Err(refuse(format!(
            "a rotation is under way (AWSPENDING is on version {p}); let it finish, or Cancel it first"
        )));
    }
    let previous_version = meta
        .version_with(AWSPREVIOUS)
        .ok_or_else(|| refuse("the secret has no AWSPREVIOUS version to roll back to"))?;
    let previous = scope
        .read(Some(previous_version), AWSPREVIOUS)
        .await?
        .ok_or_else(|| refuse("the AWSPREVIOUS version has no value"))?;
    let previous_key = previous
        .access_key_id
        .clone()
        .ok_or_else(|| refuse("the AWSPREVIOUS version names no AccessKeyId"))?;
    if !previous.user_name.eq_ignore_ascii_case(user.name()) {
        return Err(refuse(format!(
            "the AWSPREVIOUS version belongs to IAM user {:?}, not {:?}",
            previous.user_name,
            user.name()
        )));
    }
    let keys = user.keys().await?;
    let Some(found) = keys.iter().find(|k| k.id == previous_key) else {
        return Err(refuse(format!(
            "the previous key {previous_key} of IAM user {:?} no longer exists",
            user.name()
        )));
    };
    let quarantined = quarantine(&user).await?;
    if let Some(policy) = quarantined.first() {
        return Err(refuse(format!(
            "IAM user {:?} carries AWS's compromised-key quarantine policy {policy}: a key of it was exposed. Close the incident (rotate, then detach the policy) before any rollback",
            user.name()
        )));
    }
    if !found.is_active() && !reactivate_key {
        return Err(refuse(format!(
            "the previous key {previous_key} is Inactive and someone may have deactivated it on purpose (Status shows who, as far as this system knows); send \"ReactivateKey\": true to make it Active again",
        )));
    }
    let proved = own.contains(&previous_key)
        || (found.is_active() && scope.proves_possession(&previous, &user.info.arn).await);
    if !proved {
        return Err(refuse(format!(
            "the previous key {previous_key} is not the secret's own: the rotator did not create it for this secret and the AWSPREVIOUS version does not prove it holds it"
        )));
    }

    // A stopped rotation, or AWSPENDING left on the current version, would let a replayed
    // finishSecret move AWSCURRENT again: it goes first.
    remove_every_pending(scope).await?;
    // The previous key is Active before AWSCURRENT moves: never a moment without an Active
    // current key.
    if !found.is_active() {
        user.iam
            .set_active(user.name(), &previous_key, true)
            .await?;
        warn!(secret_id = %scope.arn(), action = "Rollback", user = %user.info.arn,
              key_id = %previous_key, previous_status = "Inactive",
              "reactivated previous key on the operator's ReactivateKey");
    }
    let record_value = format!("{current_version}:{previous_version}");
    secrets::tag(
        &scope.clients.secrets,
        scope.arn(),
        &[(ROLLBACK_TAG, record_value.as_str())],
    )
    .await?;
    secrets::move_current(
        &scope.clients.secrets,
        scope.arn(),
        previous_version,
        Some(current_version),
    )
    .await?;
    warn!(secret_id = %scope.arn(), action = "Rollback", from_version = %current_version,
          to_version = %previous_version, "moved AWSCURRENT back");
    let rolled_back = current.access_key_id.as_deref();
    match rolled_back {
        Some(key) if own.contains(key) => deactivate(scope, &user, key, metrics).await?,
        Some(key) => warn!(secret_id = %scope.arn(), action = "Rollback", key_id = %key,
                           "the rolled-back key is not the secret's own: left as it is"),
        None => {}
    }
    record(scope, Some(&previous_key), rolled_back).await;
    Ok(
        json!({"RolledBack": true, "FromVersion": current_version, "ToVersion": previous_version,
               "AccessKeyId": previous_key, "DeactivatedAccessKeyId": rolled_back.filter(|k| own.contains(*k)),
               "Reactivated": !found.is_active(), "UserName": user.name()}),
    )
}

/// Removes AWSPENDING from every version that carries it.
async fn remove_every_pending(scope: &Scope<'_>) -> Result<(), ErrorKind> {
    let mut pending: Vec<&str> = scope
        .meta
        .versions
        .iter()
        .filter(|(_, stages)| stages.iter().any(|x| x == AWSPENDING))
        .map(|(v, _)| v.as_str())
        .collect();
    pending.sort_unstable();
    for version in pending {
        secrets::remove_stage(&scope.clients.secrets, scope.arn(), AWSPENDING, version).await?;
        warn!(secret_id = %scope.arn(), action = scope.what, version = %version,
              "removed AWSPENDING");
    }
    if scope.meta.tags.iter().any(|(k, _)| k == PENDING_KEY_TAG) {
        scope.record_tags(&[], &[PENDING_KEY_TAG]).await;
    }
    Ok(())
}

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
        secret: secret_arn.to_owned(),
        user: text("UserName"),
        key_ids,
        reason,
    })
}

async fn deactivate(
    scope: &Scope<'_>,
    user: &BoundUser,
    key: &str,
    metrics: &RotationMetrics,
) -> Result<(), ErrorKind> {
    match user.iam.set_active(user.name(), key, false).await {
        Ok(()) => {
            RotationMetrics::add(&metrics.keys_deactivated, 1);
            warn!(secret_id = %scope.arn(), action = scope.what, user = %user.info.arn,
                  key_id = %key, "deactivated rolled-back key");
            Ok(())
        }
        Err(e) if e.code_is("NoSuchEntity") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn record(scope: &Scope<'_>, current: Option<&str>, previous: Option<&str>) {
    let mut set = Vec::new();
    set.extend(current.map(|k| (CURRENT_KEY_TAG, k)));
    set.extend(previous.map(|k| (PREVIOUS_KEY_TAG, k)));
    scope.record_tags(&set, &[]).await;
}

async fn cancel(scope: &Scope<'_>, metrics: &RotationMetrics) -> Result<Value, ErrorKind> {
    let meta = scope.meta;
    let Some(pending_version) = pending_version(meta) else {
        return Ok(json!({"Cancelled": false, "Reason": "no rotation is under way"}));
    };
    let pending = scope.read(Some(pending_version), AWSPENDING).await?;
    let current = scope.read(None, AWSCURRENT).await?;
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    let mut user_name = None;
    if let Some(subject) = pending.as_ref().or(current.as_ref()) {
        let user = scope.bound_user(subject).await?;
        user_name = Some(user.name().to_owned());
        let keys = user.keys().await?;
        let intent = user
            .info
            .tag(INTENT_TAG)
            .and_then(Intent::from_tag_value)
            .filter(|i| i.is_for(pending_version));
        let own = user.own_keys(scope.arn());
        let doomed = attempt_keys(
            &keys,
            pending.as_ref(),
            current.as_ref(),
            intent.as_ref(),
            &own,
        );
        if let Some(id) = pending.as_ref().and_then(|p| p.access_key_id.as_deref()) {
            if keys.iter().any(|k| k.id == id) && !doomed.iter().any(|k| k.id == id) {
                warn!(secret_id = %scope.arn(), action = "Cancel", key_id = ?id,
                      "the pending version names a key the rotator did not create for this secret: left as it is");
                kept.push(id.to_owned());
            }
        }
        // Every key of the attempt is checked before any is deleted.
        for k in doomed.iter().filter(|k| k.is_active()) {
            let used = user.iam.last_used(&k.id).await?;
            if let (Some(at), false) = (used.date, used.service.as_deref() == Some("sts")) {
                return Err(refuse(format!(
                    "the pending key {} was used at {} ({}); find who uses it before cancelling",
                    k.id,
                    rfc3339(at),
                    used.service.as_deref().unwrap_or("unknown service")
                )));
            }
        }
        for k in &doomed {
            let existed = user.iam.delete_key(user.name(), &k.id).await?;
            if existed {
                RotationMetrics::add(&metrics.keys_deleted, 1);
            }
            warn!(secret_id = %scope.arn(), action = "Cancel", user = %user.info.arn, key_id = %k.id,
                  previous_status = if k.is_active() { "Active" } else { "Inactive" }, existed,
                  "deleted the cancelled attempt's key");
            deleted.push(k.id.clone());
        }
        if intent.is_some() {
            if let Err(e) = user.iam.untag_user(user.name(), &[INTENT_TAG]).await {
                scope.warn_best_effort("clearing the intent tag", &e);
            }
        }
    }
    secrets::remove_stage(
        &scope.clients.secrets,
        scope.arn(),
        AWSPENDING,
        pending_version,
    )
    .await?;
    scope.record_tags(&[], &[PENDING_KEY_TAG]).await;
    warn!(secret_id = %scope.arn(), action = "Cancel", version = %pending_version,
          "removed AWSPENDING");
    Ok(
        json!({"Cancelled": true, "PendingVersion": pending_version, "DeletedKeys": deleted,
              "KeptKeys": kept, "UserName": user_name}),
    )
}

/// The keys a stopped attempt made: the one its version stores, and any its intent says it
/// created before storing it. Never the current key or the key it replaced.
fn attempt_keys<'k>(
    keys: &'k [AccessKey],
    pending: Option<&AccessKeySecret>,
    current: Option<&AccessKeySecret>,
    intent: Option<&Intent>,
    own: &std::collections::HashSet<String>,
) -> Vec<&'k AccessKey> {
    let current_id = current.and_then(|c| c.access_key_id.as_deref());
    let previous_id = current.and_then(|c| c.previous_access_key_id.as_deref());
    let pending_id = pending.and_then(|p| p.access_key_id.as_deref());
    keys.iter()
        .filter(|k| Some(k.id.as_str()) != current_id && Some(k.id.as_str()) != previous_id)
        .filter(|k| {
            // The pending version names a key; only the rotator's record makes it the attempt's.
            (Some(k.id.as_str()) == pending_id && own.contains(&k.id))
                || intent.is_some_and(|i| i.made(&k.id))
        })
        .collect()
}
