//! End-to-end rotations against moto, with Secrets Manager played by the harness.

use crate::common::env::*;
use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::binding;
use aws_key_rotation::rotation::config::{OldKeyAction, RotationConfig, UnmanagedKeyAction};
use aws_key_rotation::rotation::event::Step;
use aws_key_rotation::rotation::intent::{Intent, INTENT_TAG};
use serde_json::json;

fn config() -> RotationConfig {
    config_with_test_timeout(10)
}

#[tokio::test]
async fn first_rotation_replaces_the_key_and_keeps_foreign_fields() {
    let h = Harness::new();
    let user = unique("alice");
    let (secret, old_id, old_secret) = h.user_with_secret(&user, json!({"Team": "payments"})).await;
    let rotator = h.rotator(config());

    let token = h.rotate(&rotator, &secret).await;

    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let new_id = cur["AccessKeyId"].as_str().unwrap();
    assert_ne!(new_id, old_id);
    assert_ne!(cur["SecretAccessKey"].as_str().unwrap(), old_secret);
    assert_eq!(cur["PreviousAccessKeyId"], old_id.as_str());
    assert_eq!(cur["UserName"], user.as_str());
    assert_eq!(cur["Team"], "payments");
    assert!(aws_key_rotation::time::parse_rfc3339(cur["CreateDate"].as_str().unwrap()).is_some());

    let keys = h.keys(&user).await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k.id == new_id && k.is_active()));
    // By default the replaced key stays Active: consumers that cache the secret still hold it,
    // and the audit's sweep deactivates it once IAM shows it idle.
    assert!(
        keys.iter().any(|k| k.id == old_id && k.is_active()),
        "replaced key left Active: {keys:?}"
    );

    let versions = h.versions(&secret).await;
    assert_eq!(versions[&token], vec!["AWSCURRENT".to_owned()]);
    // Once the key is stored the intent left on the user names that key and no other: no key
    // a person makes later can be taken for this attempt's.
    let tags = h.user_tags(h.iam(), &user).await;
    let intent = tags
        .iter()
        .find(|(k, _)| k == INTENT_TAG)
        .and_then(|(_, v)| Intent::from_tag_value(v))
        .expect("the completed intent");
    assert_eq!(intent.created.as_deref(), Some(new_id), "{tags:?}");
    assert!(!intent.made(&old_id));
    assert!(!intent.made("AKIAAPERSONSNEWKEY00"));
    // The secret's tags name its keys, so the audit need not read the value.
    let tags = h.secret_tags(&secret).await;
    assert_eq!(
        tags.get(binding::CURRENT_KEY_TAG).map(String::as_str),
        Some(new_id)
    );
    assert_eq!(tags.get(binding::PREVIOUS_KEY_TAG), Some(&old_id));
    assert_eq!(tags.get(binding::USER_TAG), Some(&user));
    // Cleared: finishSecret writes it empty, which readers take for none.
    assert!(
        tags.get(binding::PENDING_KEY_TAG)
            .is_none_or(|v| v.is_empty()),
        "{tags:?}"
    );

    let emitted = h.take_emitted();
    assert_eq!(emitted.len(), 4);
    let by_step = |s: &str| emitted.iter().find(|d| d["Step"] == s).unwrap().clone();
    assert!(emitted
        .iter()
        .all(|d| d["StepSucceeded"] == 1 && d["StepFailed"] == 0));
    assert_eq!(by_step("createSecret")["KeysCreated"], 1);
    assert_eq!(by_step("finishSecret")["KeysDeactivated"], 0);
    assert!(by_step("testSecret")["TestAttempts"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn three_rotations_in_a_row_keep_two_keys_and_retire_the_oldest() {
    for (action, replaced_active) in [
        (OldKeyAction::DeactivateWhenIdle, true),
        (OldKeyAction::Deactivate, false),
    ] {
        let h = Harness::new();
        let user = unique("bob");
        let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
        let rotator = h.rotator(RotationConfig {
            old_key_action: action,
            ..config()
        });
        let mut history = vec![k0];
        for round in 1..=3 {
            h.rotate(&rotator, &secret).await;
            let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
            history.push(cur["AccessKeyId"].as_str().unwrap().to_owned());
            let keys = h.keys(&user).await;
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            assert_eq!(keys.len(), 2, "{action:?} round {round}: {keys:?}");
            // The current key is Active, the one it replaced Active until idle (or Inactive
            // with OLD_KEY_ACTION=deactivate), every older one deleted: the next rotation frees
            // the slot of a replaced key nobody used since.
            assert!(keys.iter().any(|k| k.id == history[round] && k.is_active()));
            assert!(
                keys.iter()
                    .any(|k| k.id == history[round - 1] && k.is_active() == replaced_active),
                "{action:?} round {round}: {keys:?}"
            );
            for gone in &history[..round - 1] {
                assert!(
                    !ids.contains(&gone.as_str()),
                    "{action:?} round {round}: {gone} should be deleted"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_step_invoked_twice_leaves_the_same_state() {
    let h = Harness::new();
    let user = unique("carol");
    let (secret, old_id, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    let token = h.start_rotation(&secret).await;
    for step in Step::ALL {
        h.invoke(&rotator, step, &secret, &token).await.unwrap();
        let first = h.snapshot(h.iam(), &user, &secret).await;
        h.invoke(&rotator, step, &secret, &token)
            .await
            .unwrap_or_else(|e| panic!("retry of {step}: {e}"));
        let second = h.snapshot(h.iam(), &user, &secret).await;
        assert_eq!(first, second, "retry of {step} changed the state");
    }
    h.end_rotation(&secret, &token).await;
    // Even after the rotation ended, a late duplicate of any step is a no-op.
    for step in Step::ALL {
        h.invoke(&rotator, step, &secret, &token).await.unwrap();
    }
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let keys = h.keys(&user).await;
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().any(|k| k.id == old_id && k.is_active()),
        "left Active until idle"
    );
    assert!(keys
        .iter()
        .any(|k| k.id == cur["AccessKeyId"].as_str().unwrap() && k.is_active()));
}

/// What an attempt of `token` records before CreateAccessKey: the intent to replace `replaced`.
async fn record_intent(h: &Harness, user: &str, token: &str, replaced: &str) {
    let intent = Intent::new(
        token,
        aws_key_rotation::time::now_secs(),
        vec![replaced.to_owned()],
    );
    aws_key_rotation::aws::iam::Iam::new(h.iam().clone())
        .tag_user(user, &[(INTENT_TAG, intent.to_tag_value())])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_crash_between_create_access_key_and_put_secret_value_leaves_no_orphan() {
    let h = Harness::new();
    let user = unique("dave");
    let (secret, old_id, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    let token = h.start_rotation(&secret).await;

    // The interrupted attempt: intent recorded, key created, then the Lambda died before
    // PutSecretValue. The user is now at two keys.
    record_intent(&h, &user, &token, &old_id).await;
    let (_orphan, _, _) = h.create_key(h.iam(), &user).await;
    assert_eq!(h.keys(&user).await.len(), 2);

    // Secrets Manager retries createSecret with the same token.
    h.finish_rotation(&rotator, &secret, &token).await;

    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    // The orphan is gone: the user holds the replaced key and the current one.
    assert_eq!(
        h.key_ids(&user).await,
        sorted([old_id.as_str(), cur["AccessKeyId"].as_str().unwrap()])
    );
    let create = h.emitted_by("createSecret");
    assert_eq!(create["OrphanKeysDeleted"], 1);
}

#[tokio::test]
async fn an_intent_of_another_token_does_not_make_a_persons_key_an_orphan() {
    let h = Harness::new();
    let user = unique("erin");
    let (secret, old_id, _) = h.user_with_secret(&user, json!({})).await;
    record_intent(&h, &user, "an-earlier-rotation", &old_id).await;
    let (human, _, _) = h.create_key(h.iam(), &user).await;
    let token = h.start_rotation(&secret).await;
    target(&h, &user, &secret)
        .rejects(&token, Step::CreateSecret, "Rotation.UnmanagedKey", &human)
        .await;
}

#[tokio::test]
async fn user_at_two_keys_with_an_unknown_key_fails_clearly_and_changes_nothing() {
    let h = Harness::new();
    let user = unique("frank");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;
    let (human, _, _) = h.create_key(h.iam(), &user).await;
    let token = h.start_rotation(&secret).await;
    let before = h.snapshot(h.iam(), &user, &secret).await;

    let err = h
        .invoke(&h.rotator(config()), Step::CreateSecret, &secret, &token)
        .await
        .unwrap_err();

    assert_eq!(err.error_type(), "Rotation.UnmanagedKey");
    let msg = err.to_string();
    assert!(
        msg.contains("createSecret") && msg.contains(&secret) && msg.contains(&token),
        "{msg}"
    );
    assert!(msg.contains(&human) && msg.contains(&user), "{msg}");
    assert!(
        msg.contains("KeyRotationDeleteOtherKeys") && msg.contains("UNMANAGED_KEY_ACTION"),
        "{msg}"
    );
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
}

#[tokio::test]
async fn the_administrators_delete_other_keys_tag_frees_the_slot() {
    let h = Harness::new();
    let user = unique("grace");
    let (secret, old_id, _) = h
        .user_with_secret(&user, json!({"DeleteAllKeysBeforeRotating": true}))
        .await;
    let (human, _, _) = h.create_key(h.iam(), &user).await;
    // In the secret's value (which any writer of the secret controls) it is ignored.
    let token = h.start_rotation(&secret).await;
    let err = h
        .invoke(&h.rotator(config()), Step::CreateSecret, &secret, &token)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.UnmanagedKey", "{err}");
    h.end_rotation(&secret, &token).await;
    // The user tag, which only an IAM administrator can set, is the word that counts.
    h.allow_deleting_other_keys(&user).await;
    h.rotate(&h.rotator(config()), &secret).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let ids = h.key_ids(&user).await;
    assert!(!ids.contains(&human));
    assert!(
        ids.contains(&old_id),
        "the replaced key is retired by finishSecret, not createSecret"
    );
    assert!(ids.contains(&cur["AccessKeyId"].as_str().unwrap().to_owned()));
    assert_eq!(cur["DeleteAllKeysBeforeRotating"], true);
}

#[tokio::test]
async fn unmanaged_key_action_delete_frees_the_slot() {
    let h = Harness::new();
    let user = unique("heidi");
    let (secret, old_id, _) = h.user_with_secret(&user, json!({})).await;
    let (human, _, _) = h.create_key(h.iam(), &user).await;
    let cfg = RotationConfig {
        unmanaged_key_action: UnmanagedKeyAction::Delete,
        ..config()
    };
    h.rotate(&h.rotator(cfg), &secret).await;
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let ids = h.key_ids(&user).await;
    assert!(!ids.contains(&human) && ids.contains(&old_id));
}

#[tokio::test]
async fn a_replaced_key_is_deleted_only_if_unused_since_replacement() {
    let h = Harness::new();
    let user = unique("ivan");
    let (secret, k0, k0_secret) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    h.rotate(&rotator, &secret).await;

    // Someone reactivates the replaced key and uses it: the next rotation must not delete it.
    // (IAM dates are whole seconds; a use in the second the new key was made counts as before
    // the switch, so the use comes in a later second.)
    let replaced_at = h.keys(&user).await.iter().filter_map(|k| k.created).max();
    clock::wait_past_second(replaced_at.unwrap()).await;
    aws_key_rotation::aws::iam::Iam::new(h.iam().clone())
        .set_active(&user, &k0, true)
        .await
        .unwrap();
    h.whoami(&k0, &k0_secret)
        .await
        .expect("reactivated key works");
    let token = h.start_rotation(&secret).await;
    target(&h, &user, &secret)
        .rejects(&token, Step::CreateSecret, "Rotation.KeyInUse", &k0)
        .await;
}

#[tokio::test]
async fn an_active_replaced_key_that_was_not_used_is_freed() {
    let h = Harness::new();
    let user = unique("judy");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    h.rotate(&rotator, &secret).await;
    aws_key_rotation::aws::iam::Iam::new(h.iam().clone())
        .set_active(&user, &k0, true)
        .await
        .unwrap();
    h.rotate(&rotator, &secret).await;
    let ids = h.key_ids(&user).await;
    assert!(!ids.contains(&k0));
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
}

#[tokio::test]
async fn old_key_action_delete_removes_the_replaced_key() {
    let h = Harness::new();
    let user = unique("mallory");
    let (secret, old_id, _) = h.user_with_secret(&user, json!({})).await;
    let cfg = RotationConfig {
        old_key_action: OldKeyAction::Delete,
        ..config()
    };
    h.rotate(&h.rotator(cfg), &secret).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let keys = h.keys(&user).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, cur["AccessKeyId"].as_str().unwrap());
    assert_ne!(keys[0].id, old_id);
    let finish = h.emitted_by("finishSecret");
    assert_eq!(finish["KeysDeleted"], 1);
}

#[tokio::test]
async fn cross_account_rotation_goes_through_the_role() {
    let h = Harness::new();
    let other = h.other_account_iam().await;
    let user = unique("oscar");
    h.create_user(&other, &user).await;
    let (old_id, _, mut doc) = h.create_key(&other, &user).await;
    doc["RoleArn"] = json!(cross_account_role());
    doc["ExternalId"] = json!("rotation-external-id");
    let secret = h.create_secret(&unique("xacct"), &doc.to_string()).await;
    h.bind(&other, &user, &secret).await;

    h.rotate(&h.rotator(config()), &secret).await;

    let cur = assert_current_authenticates(&h, &secret, "111111111111", &user).await;
    assert_eq!(cur["RoleArn"], cross_account_role().as_str());
    let keys = h.keys_of(&other, &user).await;
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().any(|k| k.id == old_id && k.is_active()),
        "left Active until idle"
    );
    // The user does not exist in the secret's own account.
    assert!(h.iam().get_user().user_name(&user).send().await.is_err());
}

#[tokio::test]
async fn a_first_key_is_created_for_a_secret_that_names_only_the_user() {
    let h = Harness::new();
    let user = unique("peggy");
    h.create_user(h.iam(), &user).await;
    let secret = h
        .create_secret(&unique("bare"), &json!({"UserName": user}).to_string())
        .await;
    h.bind(h.iam(), &user, &secret).await;
    h.rotate(&h.rotator(config()), &secret).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    assert!(cur.get("PreviousAccessKeyId").is_none());
    assert_eq!(h.keys(&user).await.len(), 1);
}

/// Where a bad input is tried: `user`'s `secret`, whose state is compared before and after.
struct Target<'a> {
    h: &'a Harness,
    user: &'a str,
    secret: &'a str,
}

fn target<'a>(h: &'a Harness, user: &'a str, secret: &'a str) -> Target<'a> {
    Target { h, user, secret }
}

impl Target<'_> {
    /// `step` for `token` must fail with `error_type`, with a message naming `needle`, the step
    /// and the token, and change nothing.
    async fn rejects(&self, token: &str, step: Step, error_type: &str, needle: &str) {
        let Target { h, user, secret } = *self;
        let before = h.snapshot(h.iam(), user, secret).await;
        let err = h
            .invoke(&h.rotator(config()), step, secret, token)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), error_type, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        assert!(msg.contains(step.as_str()) && msg.contains(token), "{msg}");
        assert_eq!(
            before,
            h.snapshot(h.iam(), user, secret).await,
            "{error_type} changed something"
        );
    }
}

#[tokio::test]
async fn malformed_secret_and_missing_user_name_fail_before_iam() {
    let h = Harness::new();
    let user = unique("trent");
    h.create_user(h.iam(), &user).await;
    let (_, _, doc) = h.create_key(h.iam(), &user).await;

    let broken = h
        .create_secret(&unique("broken"), &doc.to_string()[..40])
        .await;
    let token = h.start_rotation(&broken).await;
    target(&h, &user, &broken)
        .rejects(
            &token,
            Step::CreateSecret,
            "Rotation.InvalidSecret",
            "not valid JSON",
        )
        .await;

    let mut no_user = doc.clone();
    no_user.as_object_mut().unwrap().remove("UserName");
    let nameless = h
        .create_secret(&unique("nameless"), &no_user.to_string())
        .await;
    let token = h.start_rotation(&nameless).await;
    target(&h, &user, &nameless)
        .rejects(
            &token,
            Step::CreateSecret,
            "Rotation.InvalidSecret",
            "UserName",
        )
        .await;

    let array = h.create_secret(&unique("array"), "[1,2,3]").await;
    let token = h.start_rotation(&array).await;
    target(&h, &user, &array)
        .rejects(
            &token,
            Step::CreateSecret,
            "Rotation.InvalidSecret",
            "array",
        )
        .await;
}

#[tokio::test]
async fn wrong_tokens_steps_and_disabled_rotation_are_refused() {
    let h = Harness::new();
    let user = unique("victor");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;

    // Rotation never enabled on this secret.
    h.put_version(
        &secret,
        Some("11111111-2222-3333-4444-555555555555"),
        "{}",
        Some("AWSPENDING"),
    )
    .await;
    target(&h, &user, &secret)
        .rejects(
            "11111111-2222-3333-4444-555555555555",
            Step::CreateSecret,
            "Rotation.RotationDisabled",
            "not enabled",
        )
        .await;

    let token = h.start_rotation(&secret).await;
    target(&h, &user, &secret)
        .rejects(
            "00000000-0000-0000-0000-000000000000",
            Step::CreateSecret,
            "Rotation.UnknownVersion",
            "not a version",
        )
        .await;

    // A version that exists but is not AWSPENDING.
    h.put_version(
        &secret,
        Some("99999999-8888-7777-6666-555555555555"),
        "{}",
        Some("ARCHIVE"),
    )
    .await;
    target(&h, &user, &secret)
        .rejects(
            "99999999-8888-7777-6666-555555555555",
            Step::SetSecret,
            "Rotation.InvalidStage",
            "ARCHIVE",
        )
        .await;

    // Later steps before createSecret stored anything.
    target(&h, &user, &secret)
        .rejects(
            &token,
            Step::TestSecret,
            "Rotation.PendingValueMissing",
            "createSecret",
        )
        .await;

    let before = h.snapshot(h.iam(), &user, &secret).await;
    let err = h
        .rotator(config())
        .handle(
            json!({"Step": "rotateSecret", "SecretId": secret, "ClientRequestToken": token}),
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.InvalidEvent");
    assert!(err.to_string().contains("rotateSecret"));
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
}

#[tokio::test]
async fn a_token_that_is_already_current_is_a_no_op() {
    let h = Harness::new();
    let user = unique("walter");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    let token = h.rotate(&rotator, &secret).await;
    let before = h.snapshot(h.iam(), &user, &secret).await;
    for step in Step::ALL {
        h.invoke(&rotator, step, &secret, &token).await.unwrap();
    }
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
}

#[tokio::test]
async fn a_user_that_does_not_exist_is_named() {
    let h = Harness::new();
    let ghost = unique("ghost");
    let secret = h
        .create_secret(&unique("ghost"), &json!({"UserName": ghost}).to_string())
        .await;
    let token = h.start_rotation(&secret).await;
    let err = h
        .invoke(&h.rotator(config()), Step::CreateSecret, &secret, &token)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.UserNotFound");
    assert!(err.to_string().contains(&ghost));
    assert!(h.value(&secret, "AWSPENDING").await.is_none());
}
