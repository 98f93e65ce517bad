//! finishSecret: move AWSCURRENT to the token, record the switch on the user and the secret's
//! key ids in its tags, then retire the key it replaced per OLD_KEY_ACTION (by default it stays
//! Active: the audit's sweep deactivates it once IAM shows it idle).

use super::intent::INTENT_TAG;
use super::{BoundUser, Invocation};
use crate::aws::secrets::AWSCURRENT;
use crate::binding::{
    self, CURRENT_KEY_TAG, PENDING_KEY_TAG, PREVIOUS_KEY_TAG, ROLLBACK_TAG, SWITCHED_TAG,
    USER_ACCOUNT_TAG, USER_TAG,
};
use crate::rotation::config::OldKeyAction;
use crate::rotation::error::ErrorKind;
use crate::rotation::metrics::RotationMetrics;
use tracing::{info, warn};

pub(super) async fn run(inv: &Invocation<'_>, resumed: bool) -> Result<(), ErrorKind> {
    let pending = inv.require_pending().await?;
    // A rotation is finished only for a user still bound to this secret.
    let user = inv.scope().bound_user(&pending).await?;
    let own = user.own_keys(inv.arn());
    // The same checks on a resumed step (the version already carries AWSCURRENT too): a writer
    // of the secret can stage both stages on a version of their own, and the step would
    // otherwise record its key as the switch and retire the key it names as replaced.
    let new = pending
        .access_key_id
        .as_deref()
        .ok_or(ErrorKind::IncompleteKey {
            stage: "AWSPENDING",
        })?;
    let keys = user.keys().await?;
    // AWSCURRENT moves only to an Active key of the bound user that is the secret's own: a
    // replayed or forged finishSecret can never leave the user without an Active current key.
    // And only to the newest key the rotator recorded for this secret that IAM still lists: a
    // version staged AWSPENDING again names an older one, and finishing it would put that key
    // back and retire the newer one.
    let created = |id: &str| keys.iter().find(|k| k.id == id).and_then(|k| k.created);
    let newer = created(new).and_then(|c| {
        own.iter()
            .filter(|k| k.as_str() != new)
            .find(|k| created(k).is_some_and(|o| o > c))
    });
    let intent = user.intent_of(inv.token());
    let made_here = intent
        .as_ref()
        .is_some_and(|i| i.created.as_deref() == Some(new));
    let why = match keys.iter().find(|k| k.id == new) {
        None => Some("does not exist in IAM"),
        Some(k) if !k.is_active() => Some("is Inactive"),
        Some(_) if newer.is_some() => Some(
            "is older than another key the rotator made for this secret (a version staged AWSPENDING again?)",
        ),
        // Without a proof, only the key the rotator made under this very token: its intent,
        // completed with the key, names the token. Another version naming the same key (a
        // writer's, to finish with a value that does not work and retire the live key) must
        // prove it holds the key's secret.
        Some(_) if own.contains(new) && made_here => None,
        Some(_) if inv.scope().proves_possession(&pending, &user.info.arn).await => None,
        Some(_) => Some(
            "was not created by the rotator for this secret, and the version does not hold its secret access key",
        ),
    };
    if let Some(why) = why {
        // The id comes from the version's value, which a writer may fill with anything: shown
        // only when it has the shape of an access key id.
        let new = if new.len() >= 16
            && new.len() <= 128
            && new
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            new
        } else {
            "(not an access key id)"
        };
        warn!(secret_id = %inv.arn(), step = "finishSecret", user = %user.name(), key_id = %new,
              newer_key_id = newer.map_or("none", String::as_str), resumed, why,
              "the pending key cannot be made current; refused, nothing changed");
        return Err(ErrorKind::PendingKeyNotUsable {
            user: user.name().to_owned(),
            key: new.to_owned(),
            why,
        });
    }
    if !resumed {
        let from = inv.meta.version_with(AWSCURRENT);
        if let Err(e) = inv
            .aws
            .secrets
            .move_current(inv.arn(), inv.token(), from)
            .await
        {
            // An earlier attempt whose answer was lost may have moved it already.
            let now = inv.aws.secrets.describe(inv.arn()).await?;
            if now.version_with(AWSCURRENT) != Some(inv.token()) {
                return Err(e.into());
            }
        }
        info!(secret_id = %inv.arn(), step = "finishSecret", token = ?inv.token(),
              previous_version = from.unwrap_or("none"),
              key_id = %new, "moved AWSCURRENT");
    }

    // One TagUser: the switch, from which the sweep counts the replaced key's windows ("moved"
    // is a use of the new key after it, so testSecret's own call never counts), recorded by a
    // resumed step only if the attempt that moved AWSCURRENT did not; and, for a key the
    // version proved it holds rather than one createSecret recorded (its record failed), the
    // key among the secret's own, without which the sweep would never retire the replaced one.
    let mut tags = Vec::new();
    if !resumed || binding::switched_at(user.info.tag(SWITCHED_TAG), new).is_none() {
        tags.push((
            SWITCHED_TAG,
            binding::key_time_value(new, crate::time::now_secs()),
        ));
    }
    // The intent of this token, left open when createSecret could not complete it: completed
    // here, so that it names this key and no other (a Cancel or a later attempt never takes a key
    // a person makes afterwards for this attempt's).
    if let Some(open) = intent.filter(|i| i.created.is_none()) {
        tags.push((INTENT_TAG, open.completed(new).to_tag_value()));
    }
    if !own.contains(new) {
        tags.push(BoundUser::own_keys_record(
            inv.arn(),
            &keys,
            |k| own.contains(k),
            Some(new),
        ));
    }
    if !tags.is_empty() {
        match user.iam.tag_user(user.name(), &tags).await {
            Ok(()) => info!(secret_id = %inv.arn(), step = "finishSecret", user = %user.name(),
                            key_id = %new, tags = tags.len(), "recorded the switch on the user"),
            Err(e) => inv.scope().warn_best_effort(
                "recording the switch on the user (the sweep then counts from the secret's last rotation)",
                &e,
            ),
        }
    }
    let old = pending
        .previous_access_key_id
        .as_deref()
        .filter(|old| *old != new);
    // One TagResource; a Rollback record, a previous key id with no replaced key, or the pending
    // key id that createSecret wrote before it stopped doing so (cleared by an empty value, which
    // every reader takes for none), only when the secret carries it: a clean rotation needs no
    // UntagResource.
    // The user's account (from its ARN as IAM gave it, never from the secret's value) says in
    // which account the audit sweeps the replaced key (another than the secret's, for a
    // cross-account rotation): its id alone, as the ARN's path can outgrow a tag value.
    let user_account = crate::arn::Arn::parse(&user.info.arn)
        .and_then(|a| a.account_id())
        .filter(|a| crate::arn::is_account_id(a));
    let carried = |tag: &str| inv.meta.tags.iter().any(|(k, _)| k == tag);
    let mut set = vec![(USER_TAG, user.name())];
    if inv
        .meta
        .tags
        .iter()
        .any(|(k, v)| k == PENDING_KEY_TAG && !v.is_empty())
    {
        set.push((PENDING_KEY_TAG, ""));
    }
    set.extend(user_account.map(|a| (USER_ACCOUNT_TAG, a)));
    set.push((CURRENT_KEY_TAG, new));
    set.extend(old.map(|k| (PREVIOUS_KEY_TAG, k)));
    let mut remove = vec![ROLLBACK_TAG];
    if old.is_none() {
        remove.push(PREVIOUS_KEY_TAG);
    }
    remove.retain(|tag| carried(tag));
    inv.scope().record_tags(&set, &remove).await;

    let Some(old) = old else {
        return Ok(());
    };
    let name = user.name();
    if !own.contains(old) {
        warn!(secret_id = %inv.arn(), step = "finishSecret", user = %name, key_id = %old,
              "the replaced key is not the secret's own (the rotator did not create it and the secret never proved it holds it): left as it is");
        return Ok(());
    }
    match inv.config.old_key_action {
        OldKeyAction::DeactivateWhenIdle => {
            info!(secret_id = %inv.arn(), step = "finishSecret", user = %name, key_id = %old,
                  idle_hours = inv.config.shared.old_key_idle.as_secs_f64() / 3600.0,
                  "replaced key left Active until IAM shows it idle; the audit's sweep deactivates it");
        }
        OldKeyAction::Deactivate => match user.iam.set_active(name, old, false).await {
            Ok(()) => {
                RotationMetrics::add(&inv.metrics.keys_deactivated, 1);
                warn!(secret_id = %inv.arn(), step = "finishSecret", user = %user.info.arn,
                      key_id = %old, previous_status = "Active or Inactive",
                      grace_days = inv.config.shared.old_key_grace_days, "deactivated replaced key");
            }
            Err(e) if e.code_is("NoSuchEntity") => {
                info!(secret_id = %inv.arn(), step = "finishSecret", user = %name, key_id = %old,
                      "replaced key is already gone");
            }
            Err(e) => return Err(e.into()),
        },
        OldKeyAction::Delete => {
            let existed = user.iam.delete_key(name, old).await?;
            if existed {
                RotationMetrics::add(&inv.metrics.keys_deleted, 1);
            }
            warn!(secret_id = %inv.arn(), step = "finishSecret", user = %user.info.arn,
                  key_id = %old, existed, "deleted replaced key");
        }
    }
    Ok(())
}
