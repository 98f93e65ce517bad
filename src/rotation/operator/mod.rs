//! Operator actions on a rotation secret, sent with `aws lambda invoke`: Status (read only),
//! Rollback and Cancel. Each is safe to repeat: after a failure at any call, the same action
//! again finishes what the first began. Neither ever returns or logs a secret value.
//!
//! The decisions are [`plan`]'s, pure; this module reads the facts the planner asks for and
//! carries out its answer.

mod notice;
pub mod plan;

use super::{BoundUser, Scope};
use crate::aws::secrets::{SecretMeta, SecretValue, AWSCURRENT, AWSPENDING};
use crate::binding::{CURRENT_KEY_TAG, PENDING_KEY_TAG, PREVIOUS_KEY_TAG, ROLLBACK_TAG};
use crate::rotation::error::ErrorKind;
use crate::rotation::event::{Action, ActionEvent};
use crate::rotation::intent::INTENT_TAG;
use crate::rotation::metrics::RotationMetrics;
use crate::secret::AccessKeySecret;
pub use notice::notice;
pub use plan::AWSPREVIOUS;
use plan::{Need, Plan, Stages, UserFacts, VersionValue};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::HashMap;
use tracing::{info, warn};

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

fn stages(meta: &SecretMeta) -> Stages<'_> {
    Stages {
        versions: &meta.versions,
        tags: &meta.tags,
    }
}

fn refuse(why: String) -> ErrorKind {
    ErrorKind::ActionRefused(why)
}

fn value_of(secret: &AccessKeySecret) -> VersionValue {
    VersionValue {
        user_name: secret.user_name.clone(),
        key: secret.access_key_id.clone(),
        previous_key: secret.previous_access_key_id.clone(),
    }
}

fn user_facts(scope: &Scope<'_>, user: &BoundUser) -> UserFacts {
    UserFacts::from_info(&user.info, user.own_keys(scope.arn()))
}

/// The key id a version names, read leniently (a version that is not an access-key secret
/// names none).
async fn key_of(scope: &Scope<'_>, version: &str) -> Result<Option<String>, ErrorKind> {
    let value = scope
        .aws
        .secrets
        .get_value(scope.arn(), Some(version), None)
        .await?;
    Ok(match value {
        Some(SecretValue::Text(t)) => AccessKeySecret::parse(t.expose_secret())
            .ok()
            .and_then(|s| s.access_key_id),
        _ => None,
    })
}

/// AWS's compromised-key quarantine policies attached to the user.
async fn quarantine(user: &BoundUser) -> Result<Vec<String>, ErrorKind> {
    Ok(user
        .iam
        .attached_policy_names(user.name())
        .await?
        .into_iter()
        .filter(|p| p.starts_with(plan::QUARANTINE_POLICY_PREFIX))
        .collect())
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
    let mut facts = plan::StatusFacts {
        stages: stages(meta),
        bound,
        user: user.as_ref().map(|u| user_facts(scope, u)),
        keys: Vec::new(),
        version_keys: HashMap::new(),
        last_used: HashMap::new(),
    };
    if let Some(u) = &user {
        facts.keys = u.keys().await?;
    }
    // Each staged version's key, read once: the AWSCURRENT value is already at hand.
    let current_version = meta.version_with(AWSCURRENT);
    for (version, _) in facts.stages.staged() {
        let key = match &current {
            Some(c) if current_version == Some(version) => c.access_key_id.clone(),
            _ => key_of(scope, version).await?,
        };
        facts.version_keys.insert(version.to_owned(), key);
    }
    if let Some(u) = &user {
        for id in plan::status_needs(&facts) {
            let used = u.iam.last_used(&id).await?;
            facts.last_used.insert(id, used);
        }
    }
    let (versions, stuck) = plan::status_versions(&facts);
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
        "Bound": facts.bound,
        "UserKeys": plan::user_keys(&facts.keys),
        "Versions": versions,
        "RotationInProgress": stuck,
    }))
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
    let current_value = value_of(&current);
    let user_facts = user_facts(scope, &user);
    let mut facts = plan::RollbackFacts {
        stages: stages(meta),
        current_version,
        current: &current_value,
        user: &user_facts,
        reactivate_key,
        version_keys: HashMap::new(),
        previous: None,
        keys: None,
        quarantine: None,
        proved: None,
    };
    let mut previous: Option<AccessKeySecret> = None;
    let decision = loop {
        match plan::rollback(&facts) {
            Plan::Need(Need::VersionKey(v)) => {
                let key = key_of(scope, &v).await?;
                facts.version_keys.insert(v, key);
            }
            Plan::Need(Need::Previous(version)) => {
                previous = scope.read(Some(&version), AWSPREVIOUS).await?;
                facts.previous = Some(previous.as_ref().map(value_of));
            }
            Plan::Need(Need::Keys) => facts.keys = Some(user.keys().await?),
            Plan::Need(Need::Quarantine) => facts.quarantine = Some(quarantine(&user).await?),
            Plan::Need(Need::Proof) => {
                facts.proved = Some(match &previous {
                    Some(p) => scope.proves_possession(p, &user.info.arn).await,
                    None => false,
                })
            }
            Plan::Refuse(why) => return Err(refuse(why)),
            Plan::Do(d) => break d,
        }
    };
    match decision {
        plan::Rollback::Finish {
            from,
            to,
            rolled_back,
            deactivate: doomed,
        } => {
            remove_every_pending(scope).await?;
            if let Some(key) = &doomed {
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
            Ok(
                json!({"RolledBack": true, "AlreadyDone": true, "FromVersion": from, "ToVersion": to,
                       "AccessKeyId": current.access_key_id, "DeactivatedAccessKeyId": rolled_back,
                       "UserName": user.name()}),
            )
        }
        plan::Rollback::Roll {
            from_version,
            to_version,
            previous_key,
            reactivate,
            deactivate: doomed,
            foreign,
        } => {
            // A stopped rotation, or AWSPENDING left on the current version, would let a
            // replayed finishSecret move AWSCURRENT again: it goes first.
            remove_every_pending(scope).await?;
            // The previous key is Active before AWSCURRENT moves: never a moment without an
            // Active current key.
            if reactivate {
                user.iam
                    .set_active(user.name(), &previous_key, true)
                    .await?;
                warn!(secret_id = %scope.arn(), action = "Rollback", user = %user.info.arn,
                      key_id = %previous_key, previous_status = "Inactive",
                      "reactivated previous key on the operator's ReactivateKey");
            }
            let record_value = format!("{from_version}:{to_version}");
            scope
                .aws
                .secrets
                .tag(scope.arn(), &[(ROLLBACK_TAG, record_value.as_str())])
                .await?;
            scope
                .aws
                .secrets
                .move_current(scope.arn(), &to_version, Some(&from_version))
                .await?;
            warn!(secret_id = %scope.arn(), action = "Rollback", from_version = %from_version,
                  to_version = %to_version, "moved AWSCURRENT back");
            if let Some(key) = &doomed {
                deactivate(scope, &user, key, metrics).await?;
            }
            if let Some(key) = &foreign {
                warn!(secret_id = %scope.arn(), action = "Rollback", key_id = %key,
                      "the rolled-back key is not the secret's own: left as it is");
            }
            let rolled_back = current.access_key_id.as_deref();
            record(scope, Some(&previous_key), rolled_back).await;
            Ok(
                json!({"RolledBack": true, "FromVersion": from_version, "ToVersion": to_version,
                       "AccessKeyId": previous_key, "DeactivatedAccessKeyId": doomed,
                       "Reactivated": reactivate, "UserName": user.name()}),
            )
        }
    }
}

/// Removes AWSPENDING from every version that carries it.
async fn remove_every_pending(scope: &Scope<'_>) -> Result<(), ErrorKind> {
    for version in stages(scope.meta).every_pending() {
        scope
            .aws
            .secrets
            .remove_stage(scope.arn(), AWSPENDING, version)
            .await?;
        warn!(secret_id = %scope.arn(), action = scope.what, version = %version,
              "removed AWSPENDING");
    }
    if scope
        .meta
        .tags
        .iter()
        .any(|(k, v)| k == PENDING_KEY_TAG && !v.is_empty())
    {
        scope.record_tags(&[], &[PENDING_KEY_TAG]).await;
    }
    Ok(())
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
    let Some(pending_version) = stages(meta).pending_version() else {
        return Ok(json!({"Cancelled": false, "Reason": "no rotation is under way"}));
    };
    let pending = scope.read(Some(pending_version), AWSPENDING).await?;
    let current = scope.read(None, AWSCURRENT).await?;
    let mut facts = plan::CancelFacts {
        pending: pending.as_ref().map(value_of),
        current: current.as_ref().map(value_of),
        ..Default::default()
    };
    let mut user = None;
    if let Some(subject) = pending.as_ref().or(current.as_ref()) {
        let bound = scope.bound_user(subject).await?;
        facts.user = Some((user_facts(scope, &bound), bound.keys().await?));
        user = Some(bound);
    }
    let decision = loop {
        match plan::cancel(pending_version, &facts) {
            Plan::Need(plan::LastUsedOf(key)) => {
                // Asked only of the bound user's keys.
                let Some(bound) = &user else {
                    return Err(refuse(format!("cannot tell whether key {key} is in use")));
                };
                let used = bound.iam.last_used(&key).await?;
                facts.last_used.insert(key, used);
            }
            Plan::Refuse(why) => return Err(refuse(why)),
            Plan::Do(d) => break d,
        }
    };
    let mut deleted = Vec::new();
    for id in &decision.kept {
        warn!(secret_id = %scope.arn(), action = "Cancel", key_id = ?id,
              "the pending version names a key the rotator did not create for this secret: left as it is");
    }
    if let Some(user) = &user {
        for k in &decision.delete {
            let existed = user.iam.delete_key(user.name(), &k.id).await?;
            if existed {
                RotationMetrics::add(&metrics.keys_deleted, 1);
            }
            warn!(secret_id = %scope.arn(), action = "Cancel", user = %user.info.arn, key_id = %k.id,
                  previous_status = if k.is_active() { "Active" } else { "Inactive" }, existed,
                  "deleted the cancelled attempt's key");
            deleted.push(k.id.clone());
        }
        if decision.clear_intent {
            if let Err(e) = user.iam.untag_user(user.name(), &[INTENT_TAG]).await {
                scope.warn_best_effort("clearing the intent tag", &e);
            }
        }
    }
    scope
        .aws
        .secrets
        .remove_stage(scope.arn(), AWSPENDING, pending_version)
        .await?;
    scope.record_tags(&[], &[PENDING_KEY_TAG]).await;
    warn!(secret_id = %scope.arn(), action = "Cancel", version = %pending_version,
          "removed AWSPENDING");
    Ok(
        json!({"Cancelled": true, "PendingVersion": pending_version, "DeletedKeys": deleted,
              "KeptKeys": decision.kept, "UserName": user.as_ref().map(|u| u.name().to_owned())}),
    )
}
