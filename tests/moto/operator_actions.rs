//! Operator actions on moto: Status, Rollback and Cancel. Their convergence when any AWS call
//! of theirs fails is in `faults::operator_actions`.

use crate::common::env::*;
use crate::common::proxy::Proxy;
use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::rotation::config::{OldKeyAction, RotationConfig};
use aws_key_rotation::rotation::event::Step;
use serde_json::{json, Value};

/// The rotation function. Rotations here retire the replaced key at once, so that each test
/// starts from one Active key per user; Rollback under the default (the replaced key still
/// Active) is tested apart.
pub(crate) fn config() -> RotationConfig {
    RotationConfig {
        old_key_action: OldKeyAction::Deactivate,
        ..config_with_test_timeout(5)
    }
}

/// The operator function: the same code with `OPERATOR_ACTIONS=true`.
pub(crate) fn op() -> RotationConfig {
    RotationConfig {
        operator_actions: true,
        ..config()
    }
}

/// An action. The Rollbacks here revive the Inactive previous key on the operator's word
/// (`ReactivateKey`); without it they are refused (tested apart).
pub(crate) fn action(name: &str, secret: &str) -> Value {
    if name == "Rollback" {
        json!({"Action": name, "SecretId": secret, "ReactivateKey": true})
    } else {
        json!({"Action": name, "SecretId": secret})
    }
}

/// A bound user whose secret went through one rotation: AWSCURRENT holds k1, AWSPREVIOUS k0
/// (Inactive). Returns (user, secret, k0, k1).
pub(crate) async fn rotated_once(h: &Harness, name: &str) -> (String, String, String, String) {
    let user = unique(name);
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    h.rotate(&h.rotator(config()), &secret).await;
    let k1 = h.key_id(&secret, "AWSCURRENT").await;
    (user, secret, k0, k1)
}

/// Exactly one Active key, the AWSCURRENT one, and it authenticates as the user.
pub(crate) async fn one_live_key(h: &Harness, user: &str, secret: &str) -> Result<String, String> {
    let cur = h.current(secret).await;
    let id = cur["AccessKeyId"].as_str().unwrap_or_default().to_owned();
    let active: Vec<String> = h
        .keys(user)
        .await
        .into_iter()
        .filter(|k| k.is_active())
        .map(|k| k.id)
        .collect();
    if active != [id.clone()] {
        return Err(format!("Active keys {active:?}, AWSCURRENT {id}"));
    }
    let arn = h
        .whoami(&id, cur["SecretAccessKey"].as_str().unwrap_or_default())
        .await
        .map_err(|e| format!("AWSCURRENT key {id} does not authenticate: {e}"))?;
    if arn != format!("arn:aws:iam::{ACCOUNT}:user/{user}") {
        return Err(format!("AWSCURRENT authenticates as {arn}"));
    }
    Ok(id)
}

pub(crate) fn stuck(versions: &std::collections::HashMap<String, Vec<String>>) -> bool {
    versions
        .values()
        .any(|s| s.iter().any(|x| x == "AWSPENDING") && !s.iter().any(|x| x == "AWSCURRENT"))
}

#[tokio::test]
async fn status_shows_versions_keys_and_a_stuck_rotation_but_no_secret() {
    let h = Harness::new();
    let (user, secret, k0, k1) = rotated_once(&h, "status").await;
    let token = h.stuck_rotation(&secret, config()).await;
    let pending = h.value(&secret, "AWSPENDING").await.unwrap();
    let rotator = h.rotator(op());
    let status = rotator
        .handle_request(action("Status", &secret), 0)
        .await
        .unwrap();
    let text = status.to_string();
    for v in [h.current(&secret).await, pending.clone()] {
        let s = v["SecretAccessKey"].as_str().unwrap();
        assert!(!text.contains(s), "Status shows a secret key");
    }
    assert_eq!(status["Bound"], true);
    assert_eq!(status["UserName"], user.as_str());
    assert_eq!(
        status["RotationInProgress"]["PendingVersion"],
        token.as_str()
    );
    let versions = status["Versions"].as_array().unwrap();
    let by_key = |k: &str| {
        versions
            .iter()
            .find(|v| v["AccessKeyId"] == k)
            .unwrap_or_else(|| panic!("{k} not in {versions:?}"))
    };
    assert_eq!(by_key(&k1)["Stages"], json!(["AWSCURRENT"]));
    assert_eq!(by_key(&k1)["KeyStatus"], "Active");
    // createSecret made room by deleting the Inactive replaced key.
    assert_eq!(by_key(&k0)["KeyStatus"], "absent from IAM");
    let p = pending["AccessKeyId"].as_str().unwrap();
    assert_eq!(by_key(p)["Stages"], json!(["AWSPENDING"]));
    assert!(by_key(&k1).get("LastUsed").is_some());
}

#[tokio::test]
async fn rollback_restores_the_previous_key_and_is_idempotent() {
    let h = Harness::new();
    let (user, secret, k0, k1) = rotated_once(&h, "rollback").await;
    let (rotator, inbox) = h.notifying_rotator(op(), "rollback-notices").await;
    let answer = rotator
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_eq!(answer["AccessKeyId"], k0.as_str());
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k0);
    assert!(h
        .keys(&user)
        .await
        .iter()
        .any(|k| k.id == k1 && !k.is_active()));
    // One notification, naming the secret, the user and both keys; no secret value.
    let messages = inbox.take().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["detail-type"], "Access key rotation rolled back");
    assert_eq!(m["detail"]["secret"], secret.as_str());
    assert_eq!(m["detail"]["user"], user.as_str());
    assert_eq!(m["detail"]["keyIds"], json!([k0, k1]));
    // Again: nothing more happens (no rolling back and forth), and nothing is announced.
    let before = h.snapshot(h.iam(), &user, &secret).await;
    rotator
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
    assert_eq!(inbox.take().await, Vec::<Value>::new());
    // The next rotation works and clears the rollback record.
    h.rotate(&h.rotator(config()), &secret).await;
    let id = one_live_key(&h, &user, &secret).await.unwrap();
    assert!(id != k0 && id != k1);
    assert!(h.keys(&user).await.len() <= 2);
    assert!(!h
        .secret_tags(&secret)
        .await
        .contains_key(aws_key_rotation::binding::ROLLBACK_TAG));
}

/// With the default OLD_KEY_ACTION the replaced key is still Active when a Rollback comes: it
/// becomes AWSCURRENT again at once, and the rolled-back key is deactivated.
#[tokio::test]
async fn rollback_under_the_default_retirement() {
    let h = Harness::new();
    let user = unique("rb-default");
    let (secret, k0, k0_secret) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(RotationConfig {
        test_timeout: std::time::Duration::from_secs(5),
        ..RotationConfig::default()
    });
    h.rotate(&rotator, &secret).await;
    let both = one_live_key(&h, &user, &secret).await.unwrap_err();
    assert!(
        both.contains("Active keys"),
        "both keys Active until idle: {both}"
    );
    h.rotator(op())
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k0);
    // The restored key authenticates as the user.
    let arn = h.whoami(&k0, &k0_secret).await.expect("restored key works");
    assert!(arn.ends_with(&format!(":user/{user}")), "{arn}");
}

/// `event` must be refused (an answer, not a function error) with a reason mentioning
/// `needle`, and change nothing.
async fn assert_refused(h: &Harness, user: &str, secret: &str, event: Value, needle: &str) {
    let before = h.snapshot(h.iam(), user, secret).await;
    let answer = h
        .rotator(op())
        .handle_request(event, 0)
        .await
        .expect("a refusal is an answer");
    assert_eq!(answer["Result"], "refused", "{answer}");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains(needle), "{reason}");
    assert_eq!(before, h.snapshot(h.iam(), user, secret).await);
}

async fn assert_rollback_refused(h: &Harness, user: &str, secret: &str, needle: &str) {
    assert_refused(h, user, secret, action("Rollback", secret), needle).await
}

#[tokio::test]
async fn the_rotator_refuses_every_action_before_any_aws_call() {
    // Everyone who may call RotateSecret may invoke the rotator: Status would list users and
    // keys, Rollback would revive a key a responder turned off.
    let h = Harness::new();
    let proxy = Proxy::start(&moto_endpoint()).await;
    let rotator = h.rotator_at(&proxy.url, config());
    for event in [
        action("Status", "any"),
        action("Rollback", "any"),
        action("Cancel", "any"),
        json!({"Action": "Delete", "SecretId": "any"}),
    ] {
        h.take_emitted();
        let err = rotator.handle_request(event.clone(), 0).await.unwrap_err();
        assert_eq!(
            err.error_type(),
            "Rotation.OperatorActionsDisabled",
            "{event}"
        );
        assert!(err.to_string().contains("operator function"), "{err}");
        let emitted = h.emitted_by("OperatorAction");
        assert_eq!(emitted["OperatorActionsRefused"], 1, "{emitted}");
    }
    assert_eq!(proxy.calls(), 0, "{:?}", proxy.ops());
}

#[tokio::test]
async fn rollback_never_revives_a_key_someone_deactivated_without_the_operators_word() {
    let h = Harness::new();
    let user = unique("rb-responder");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let default = RotationConfig {
        old_key_action: OldKeyAction::DeactivateWhenIdle,
        ..config()
    };
    h.rotate(&h.rotator(default), &secret).await;
    // The replaced key leaked; an incident responder deactivates it.
    crate::common::moto::deactivate(h.iam(), &user, &k0).await;
    let plain = json!({"Action": "Rollback", "SecretId": secret});
    assert_refused(&h, &user, &secret, plain, "ReactivateKey").await;
    // Status says who deactivated it, as far as the system knows.
    let status = h
        .rotator(op())
        .handle_request(action("Status", &secret), 0)
        .await
        .unwrap();
    let versions = status["Versions"].as_array().unwrap();
    let k0_version = versions
        .iter()
        .find(|v| v["AccessKeyId"] == k0.as_str())
        .unwrap();
    assert_eq!(k0_version["KeyStatus"], "Inactive");
    assert!(
        k0_version["DeactivatedBy"]
            .as_str()
            .unwrap()
            .contains("not recorded by this system"),
        "{k0_version}"
    );
    // Under AWS's compromised-key quarantine, not even the operator's word revives it.
    let policy = h
        .iam()
        .create_policy()
        .policy_name(format!("AWSCompromisedKeyQuarantineV2{}", unique("x").replace('-', "")))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateAccessKey","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let policy_arn = policy.policy().unwrap().arn().unwrap().to_owned();
    h.iam()
        .attach_user_policy()
        .user_name(&user)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    assert_refused(
        &h,
        &user,
        &secret,
        action("Rollback", &secret),
        "quarantine",
    )
    .await;
    h.iam()
        .detach_user_policy()
        .user_name(&user)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    // With the operator's word, once the incident is closed.
    let answer = h
        .rotator(op())
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_eq!(answer["Reactivated"], true, "{answer}");
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k0);
}

#[tokio::test]
async fn replayed_steps_after_rollback_or_cancel_never_leave_the_user_without_a_live_key() {
    // AWS documents that AWSPENDING may stay on the AWSCURRENT version after a rotation. A
    // replayed finishSecret of that token after a Rollback used to move AWSCURRENT to the key
    // the Rollback deactivated, leaving no Active key.
    let h = Harness::new();
    let rotator = h.rotator(config());
    let user = unique("replay");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let token = h.start_rotation(&secret).await;
    for step in Step::ALL {
        h.invoke(&rotator, step, &secret, &token).await.unwrap();
    }
    // Not followed by Secrets Manager removing AWSPENDING.
    h.rotator(op())
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k0);
    assert!(h
        .versions(&secret)
        .await
        .values()
        .all(|s| !s.iter().any(|x| x == "AWSPENDING")));
    for step in [
        Step::FinishSecret,
        Step::TestSecret,
        Step::SetSecret,
        Step::CreateSecret,
        Step::FinishSecret,
    ] {
        let _ = h.invoke(&rotator, step, &secret, &token).await;
        assert_eq!(
            one_live_key(&h, &user, &secret).await,
            Ok(k0.clone()),
            "after a replayed {step}"
        );
    }
    // Cancel, then the cancelled token's steps again.
    let stuck_token = h.stuck_rotation(&secret, config()).await;
    h.rotator(op())
        .handle_request(action("Cancel", &secret), 0)
        .await
        .unwrap();
    for step in Step::ALL {
        let _ = h.invoke(&rotator, step, &secret, &stuck_token).await;
        assert_eq!(
            one_live_key(&h, &user, &secret).await,
            Ok(k0.clone()),
            "after a replayed {step} of the cancelled rotation"
        );
        assert!(h.keys(&user).await.len() <= 2);
    }
}

#[tokio::test]
async fn finish_secret_moves_awscurrent_only_to_an_active_key_of_the_user() {
    let h = Harness::new();
    let rotator = h.rotator(config());
    let user = unique("finish-check");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let token = h.start_rotation(&secret).await;
    for step in [Step::CreateSecret, Step::SetSecret, Step::TestSecret] {
        h.invoke(&rotator, step, &secret, &token).await.unwrap();
    }
    let pending = h.key_id(&secret, "AWSPENDING").await;
    crate::common::moto::deactivate(h.iam(), &user, &pending).await;
    let before = h.snapshot(h.iam(), &user, &secret).await;
    let err = h
        .invoke(&rotator, Step::FinishSecret, &secret, &token)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.PendingKeyInactive", "{err}");
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k0);
}

#[tokio::test]
async fn rollback_is_refused_with_nothing_changed_when_it_cannot_be_done() {
    let h = Harness::new();
    // The previous key no longer exists.
    let (user, secret, k0, _) = rotated_once(&h, "rb-gone").await;
    aws_key_rotation::aws::iam::Iam::new(h.iam().clone())
        .delete_key(&user, &k0)
        .await
        .unwrap();
    assert_rollback_refused(&h, &user, &secret, &format!("{k0} of IAM user")).await;
    // In the middle of a rotation.
    let (user, secret, _, _) = rotated_once(&h, "rb-mid").await;
    h.stuck_rotation(&secret, config()).await;
    assert_rollback_refused(&h, &user, &secret, "Cancel it first").await;
    // Not the operator function: a function error, counted.
    let err = h
        .rotator(config())
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.OperatorActionsDisabled");
}

#[tokio::test]
async fn cancel_unblocks_a_stuck_rotation() {
    let h = Harness::new();
    let (user, secret, _, k1) = rotated_once(&h, "cancel").await;
    h.stuck_rotation(&secret, config()).await;
    let pending = h.key_id(&secret, "AWSPENDING").await;
    let (rotator, inbox) = h.notifying_rotator(op(), "cancel-notices").await;
    let answer = rotator
        .handle_request(action("Cancel", &secret), 0)
        .await
        .unwrap();
    assert_eq!(answer["DeletedKeys"], json!([pending]));
    let messages = inbox.take().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["detail-type"], "Access key rotation cancelled");
    assert_eq!(messages[0]["detail"]["keyIds"], json!([pending]));
    assert!(!stuck(&h.versions(&secret).await));
    assert!(!h.keys(&user).await.iter().any(|k| k.id == pending));
    assert_eq!(one_live_key(&h, &user, &secret).await.unwrap(), k1);
    // Nothing left to cancel.
    let again = rotator
        .handle_request(action("Cancel", &secret), 0)
        .await
        .unwrap();
    assert_eq!(again["Cancelled"], false);
    // RotateSecret works again.
    h.rotate(&h.rotator(config()), &secret).await;
    assert_ne!(one_live_key(&h, &user, &secret).await.unwrap(), k1);
}

#[tokio::test]
async fn an_unknown_action_is_refused_before_any_aws_call() {
    let h = Harness::new();
    let proxy = Proxy::start(&moto_endpoint()).await;
    let err = h
        .rotator_at(&proxy.url, op())
        .handle_request(json!({"Action": "Delete", "SecretId": "s"}), 0)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.InvalidEvent");
    assert!(
        err.to_string().contains("unknown action \"Delete\""),
        "{err}"
    );
    assert_eq!(proxy.calls(), 0);
}

#[tokio::test]
async fn the_operator_function_refuses_rotation_steps_before_any_aws_call() {
    // It has no right to store a value: a step run there could only leave a key behind.
    let h = Harness::new();
    let proxy = Proxy::start(&moto_endpoint()).await;
    let operator = h.rotator_at(&proxy.url, op());
    for step in Step::ALL {
        let event = json!({"Step": step.as_str(), "SecretId": "any", "ClientRequestToken": "t"});
        let err = operator.handle_request(event, 0).await.unwrap_err();
        assert_eq!(err.error_type(), "Rotation.StepsDisabled", "{step}");
    }
    assert_eq!(proxy.calls(), 0, "{:?}", proxy.ops());
}

#[tokio::test]
async fn cancel_never_deletes_a_key_the_pending_version_only_names() {
    // The secret's writer stages AWSPENDING naming a break-glass key of the user (no
    // createSecret ever ran for it), so Rollback is refused and the on-call reaches for Cancel.
    let h = Harness::new();
    let (user, secret, k0, k1) = rotated_once(&h, "cancel-claim").await;
    aws_key_rotation::aws::iam::Iam::new(h.iam().clone())
        .delete_key(&user, &k0)
        .await
        .unwrap();
    let (glass, _, doc) = h.create_key(h.iam(), &user).await;
    let mut claim = doc.clone();
    claim["SecretAccessKey"] = json!("not-the-secret-key");
    claim["PreviousAccessKeyId"] = json!(k1);
    h.put_version(
        &secret,
        Some(&uuid_like()),
        &claim.to_string(),
        Some("AWSPENDING"),
    )
    .await;
    assert_rollback_refused(&h, &user, &secret, "Cancel it first").await;
    let answer = h
        .rotator(op())
        .handle_request(action("Cancel", &secret), 0)
        .await
        .unwrap();
    assert_eq!(answer["Cancelled"], true, "{answer}");
    assert_eq!(answer["DeletedKeys"], json!([]), "{answer}");
    assert_eq!(answer["KeptKeys"], json!([glass]), "{answer}");
    let keys = h.keys(&user).await;
    assert!(
        keys.iter().any(|k| k.id == glass && k.is_active()),
        "{keys:?}"
    );
    assert!(!stuck(&h.versions(&secret).await));
    assert_eq!(h.key_id(&secret, "AWSCURRENT").await, k1);
}

#[tokio::test]
async fn a_forged_rollback_record_cannot_make_rollback_deactivate_the_current_key() {
    // The rollback record is a secret tag, which the secret's writers can set: naming the
    // current version as the one rolled back from used to make Rollback "finish" by
    // deactivating the current key, silently.
    let h = Harness::new();
    let (user, secret, _, k1) = rotated_once(&h, "forged-rollback").await;
    let current_version = h
        .versions(&secret)
        .await
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
        .unwrap()
        .0;
    h.sm()
        .tag_resource()
        .secret_id(&secret)
        .tags(secret_tag(
            aws_key_rotation::binding::ROLLBACK_TAG,
            &format!("{current_version}:{current_version}"),
        ))
        .send()
        .await
        .unwrap();
    let answer = h
        .rotator(op())
        .handle_request(action("Rollback", &secret), 0)
        .await
        .unwrap();
    assert_ne!(answer["AlreadyDone"], true, "{answer}");
    // A real Rollback ran instead: the previous key is current and Active, no moment without one.
    let live = one_live_key(&h, &user, &secret).await.unwrap();
    assert_ne!(live, k1);
}
