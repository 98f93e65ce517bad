//! The trust boundary on moto: a secret's value cannot aim the rotator at a user that is not
//! bound to it, and a failed rotation never blocks the next one.

mod common;

use aws_key_rotation::binding::{BINDING_TAG, CURRENT_KEY_TAG, PENDING_KEY_TAG};
use aws_key_rotation::rotation::config::{RotationConfig, UnmanagedKeyAction};
use aws_key_rotation::rotation::event::Step;
use common::rotation::*;
use common::*;
use serde_json::json;

fn config() -> RotationConfig {
    RotationConfig {
        test_timeout: std::time::Duration::from_secs(5),
        ..RotationConfig::default()
    }
}

#[tokio::test]
async fn a_failed_rotation_does_not_block_the_next_one() {
    let h = Harness::new();
    let user = unique("abandon");
    let (secret, k1, _) = h.user_with_secret(&user, json!({})).await;

    // testSecret cannot reach STS: the attempt fails for good after createSecret made a key.
    let failed = h.stuck_rotation(&secret, config()).await;
    let abandoned = h.key_id(&secret, "AWSPENDING").await;
    assert_eq!(h.keys(&user).await.len(), 2);
    assert_eq!(
        h.secret_tags(&secret).await.get(PENDING_KEY_TAG),
        Some(&abandoned)
    );

    // Secrets Manager gives up; an operator removes AWSPENDING, as the runbook says.
    h.end_rotation(&secret, &failed).await;

    // The next rotation takes the abandoned key for the secret's own, not for a stranger's.
    h.rotate(&h.rotator(config()), &secret).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let keys = h.keys(&user).await;
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert!(
        !ids.contains(&abandoned.as_str()),
        "abandoned key {abandoned} is still there: {ids:?}"
    );
    assert!(keys.len() <= 2);
    assert!(ids.contains(&k1.as_str()) && ids.contains(&cur["AccessKeyId"].as_str().unwrap()));
    let create = h.emitted_by("createSecret");
    assert_eq!(create["KeysDeleted"], 1);
}

#[tokio::test]
async fn a_key_another_secret_holds_is_never_deleted_to_make_room() {
    let h = Harness::new();
    for (delete_all, unmanaged) in [
        (true, UnmanagedKeyAction::Fail),
        (false, UnmanagedKeyAction::Delete),
    ] {
        let user = unique("shared");
        let extra = json!({"DeleteAllKeysBeforeRotating": delete_all});
        let (secret, _, _) = h.user_with_secret(&user, extra).await;
        // A second key of the user, which another rotation secret records as its AWSCURRENT
        // (the user was bound to that secret before).
        let (held, _, doc) = h.create_key(h.iam(), &user).await;
        let other = h.create_secret(&unique("earlier"), &doc.to_string()).await;
        h.sm()
            .tag_resource()
            .secret_id(&other)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(CURRENT_KEY_TAG)
                    .value(&held)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let token = h.start_rotation(&secret).await;
        let before = h.snapshot(h.iam(), &user, &secret).await;
        let rotator = h.rotator(RotationConfig {
            unmanaged_key_action: unmanaged,
            ..config()
        });
        let err = h
            .invoke(&rotator, Step::CreateSecret, &secret, &token)
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "Rotation.KeyHeldElsewhere", "{err}");
        assert!(
            err.to_string().contains(&held) && err.to_string().contains(&other),
            "{err}"
        );
        assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
    }
}

#[tokio::test]
async fn a_user_bound_by_the_secrets_name_in_its_own_account_rotates() {
    let h = Harness::new();
    let user = unique("byname");
    let (secret, _, _) = h.unbound_user_with_secret(&user, json!({})).await;
    let name = aws_key_rotation::aws::secrets::describe(h.sm(), &secret)
        .await
        .unwrap()
        .name;
    h.bind(h.iam(), &user, &name).await;
    h.rotate(&h.rotator(config()), &secret).await;
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
}

#[tokio::test]
async fn a_binding_removed_mid_rotation_stops_it_before_any_write() {
    let h = Harness::new();
    let user = unique("unbound");
    let (secret, k1, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(config());
    let token = h.start_rotation(&secret).await;
    h.invoke(&rotator, Step::CreateSecret, &secret, &token)
        .await
        .unwrap();
    // An IAM administrator takes the user out of rotation.
    h.unbind(h.iam(), &user).await;
    for step in [Step::SetSecret, Step::FinishSecret] {
        let before = h.snapshot(h.iam(), &user, &secret).await;
        let err = h.invoke(&rotator, step, &secret, &token).await.unwrap_err();
        assert_eq!(err.error_type(), "Rotation.UserNotBound", "{step}: {err}");
        assert!(err.to_string().contains(BINDING_TAG), "{err}");
        assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await, "{step}");
    }
    assert_eq!(h.current(&secret).await["AccessKeyId"], k1.as_str());
}

#[tokio::test]
async fn a_writer_cannot_aim_the_rotator_at_an_admin() {
    // The attack: PutSecretValue on one rotating secret naming an admin, with
    // DeleteAllKeysBeforeRotating. Every step is refused and the admin's keys are untouched.
    let h = Harness::new();
    let (secret, _, _) = h.user_with_secret(&unique("app"), json!({})).await;
    let admin = unique("admin");
    h.create_user(h.iam(), &admin).await;
    let (a1, _, _) = h.create_key(h.iam(), &admin).await;
    let (a2, _, _) = h.create_key(h.iam(), &admin).await;
    let mut value = h.current(&secret).await;
    value["UserName"] = json!(admin);
    value["DeleteAllKeysBeforeRotating"] = json!(true);
    h.sm()
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    let rotator = h.rotator(config());
    let token = h.start_rotation(&secret).await;
    for step in Step::ALL {
        let err = h.invoke(&rotator, step, &secret, &token).await.unwrap_err();
        let expected = if step == Step::CreateSecret {
            "Rotation.UserNotBound"
        } else {
            "Rotation.PendingValueMissing"
        };
        assert_eq!(err.error_type(), expected, "{step}: {err}");
    }
    let keys = h.keys(&admin).await;
    let mut ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    ids.sort();
    let mut want = vec![a1.as_str(), a2.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert!(keys.iter().all(|k| k.is_active()));
    assert!(h.value(&secret, "AWSPENDING").await.is_none());
}
