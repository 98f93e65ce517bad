//! The trust boundary on moto: a secret's value cannot aim the rotator at a user that is not
//! bound to it, and a failed rotation never blocks the next one.

use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::binding::{BINDING_TAG, CURRENT_KEY_TAG, OWN_KEYS_TAG, PENDING_KEY_TAG};
use aws_key_rotation::rotation::config::{OldKeyAction, RotationConfig, UnmanagedKeyAction};
use aws_key_rotation::rotation::event::Step;
use aws_key_rotation::rotation::intent::{Intent, INTENT_TAG};
use serde_json::json;

fn config() -> RotationConfig {
    config_with_test_timeout(5)
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
    // The key is recorded on the user, where only the rotator writes: the secret's own, and the
    // one key the attempt's intent names. The secret's tags, which its writers could set, name
    // no pending key.
    assert_eq!(h.secret_tags(&secret).await.get(PENDING_KEY_TAG), None);
    let tags = h.user_tags(h.iam(), &user).await;
    let tag = |name: &str| {
        tags.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let intent = tag(INTENT_TAG)
        .and_then(Intent::from_tag_value)
        .expect("the intent");
    assert!(intent.is_for(&failed), "{intent:?}");
    assert_eq!(intent.created.as_deref(), Some(abandoned.as_str()));
    assert!(
        aws_key_rotation::binding::own_keys(tag(OWN_KEYS_TAG), &secret).contains(&abandoned),
        "{tags:?}"
    );

    // Secrets Manager gives up; an operator removes AWSPENDING, as the runbook says.
    h.end_rotation(&secret, &failed).await;

    // The next rotation takes the abandoned key for the secret's own, not for a stranger's.
    h.rotate(&h.rotator(config()), &secret).await;
    let cur = assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    // The abandoned key is gone: the user holds the replaced key and the current one.
    assert_eq!(
        h.key_ids(&user).await,
        sorted([k1.as_str(), cur["AccessKeyId"].as_str().unwrap()])
    );
    let create = h.emitted_by("createSecret");
    assert_eq!(create["KeysDeleted"], 1);
}

#[tokio::test]
async fn a_forged_key_id_tag_on_another_secret_blocks_nothing() {
    // The attack: anyone who can create a secret tags it KeyRotationAccessKeyId=<the victim's
    // replaced key>. It used to make every createSecret of the victim fail and the sweep keep
    // that key for ever; a key counts as held only by the secret its user is bound to.
    let h = Harness::new();
    let user = unique("forged");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let rotator = h.rotator(RotationConfig {
        old_key_action: OldKeyAction::Deactivate,
        ..config()
    });
    h.rotate(&rotator, &secret).await;
    let forged = h
        .create_secret(&unique("forged"), r#"{"UserName": "nobody"}"#)
        .await;
    h.sm()
        .tag_resource()
        .secret_id(&forged)
        .tags(secret_tag(CURRENT_KEY_TAG, &k0))
        .send()
        .await
        .unwrap();
    // The replaced key k0 (Inactive) makes room for the next key, whatever the forged tag says.
    h.rotate(&rotator, &secret).await;
    assert!(!h.key_ids(&user).await.contains(&k0), "k0 was kept");
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
}

#[tokio::test]
async fn a_name_binding_is_refused_and_says_how_to_rebind() {
    let h = Harness::new();
    let user = unique("byname");
    let (secret, _, _) = h.unbound_user_with_secret(&user, json!({})).await;
    let name = h.clients.secrets.describe(&secret).await.unwrap().name;
    h.bind(h.iam(), &user, &name).await;
    let token = h.start_rotation(&secret).await;
    let before = h.snapshot(h.iam(), &user, &secret).await;
    let err = h
        .invoke(&h.rotator(config()), Step::CreateSecret, &secret, &token)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.UserNotBound", "{err}");
    let msg = err.to_string();
    for want in [
        "names are no longer accepted",
        "full ARN",
        BINDING_TAG,
        secret.as_str(),
        "redirect the rotator",
    ] {
        assert!(msg.contains(want), "{want:?} missing from: {msg}");
    }
    // No ready-to-run command that would complete a hijack.
    assert!(!msg.contains("aws iam tag-user"), "{msg}");
    assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
}

#[tokio::test]
async fn a_same_named_secret_in_another_region_cannot_rotate_the_user() {
    // IAM is global and the stack runs in every region whose secrets it rotates: whoever may
    // create a secret in a second region creates one of the same name naming the user.
    let east = Harness::new();
    let user = unique("xregion");
    let (secret, k0, _) = east.user_with_secret(&user, json!({})).await;
    let (k1, _, _) = east.create_key(east.iam(), &user).await;
    let name = east.clients.secrets.describe(&secret).await.unwrap().name;
    let west = Harness::in_region("us-west-2");
    let value = json!({"UserName": user, "AccessKeyId": k0, "DeleteAllKeysBeforeRotating": true});
    let squatted = west.create_secret(&name, &value.to_string()).await;
    assert_ne!(squatted, secret);
    let token = west.start_rotation(&squatted).await;
    let err = west
        .invoke(
            &west.rotator(config()),
            Step::CreateSecret,
            &squatted,
            &token,
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.UserNotBound", "{err}");
    let mut ids = east.key_ids(&user).await;
    ids.sort();
    let mut want = vec![k0, k1];
    want.sort();
    assert_eq!(ids, want, "the user's keys changed");
    assert!(east.keys(&user).await.iter().all(|k| k.is_active()));
}

#[tokio::test]
async fn the_secrets_data_cannot_make_the_rotator_delete_a_persons_key() {
    // The bound secret's writer names a break-glass key of the same user as the replaced key,
    // as a key of another version, and asks for DeleteAllKeysBeforeRotating: the rotator did
    // not create that key and the secret cannot sign with it, so it is never deleted.
    let h = Harness::new();
    let user = unique("breakglass");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;
    let (glass, _, glass_doc) = h.create_key(h.iam(), &user).await;
    let mut value = h.current(&secret).await;
    value["PreviousAccessKeyId"] = json!(glass);
    value["DeleteAllKeysBeforeRotating"] = json!(true);
    h.put_version(&secret, None, &value.to_string(), None).await;
    // A version that is not AWSCURRENT naming the key, without its secret key.
    let mut claim = glass_doc.clone();
    claim["SecretAccessKey"] = json!("not-the-secret-key");
    h.put_version(&secret, None, &claim.to_string(), Some("OLD"))
        .await;
    for unmanaged in [UnmanagedKeyAction::Fail] {
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
        assert_eq!(err.error_type(), "Rotation.UnmanagedKey", "{err}");
        assert!(err.to_string().contains(&glass), "{err}");
        assert_eq!(before, h.snapshot(h.iam(), &user, &secret).await);
        h.end_rotation(&secret, &token).await;
    }
    assert!(h.key_ids(&user).await.contains(&glass));
    // The administrator's word, a user tag the rotator's roles cannot write, does make room.
    h.allow_deleting_other_keys(&user).await;
    h.rotate(&h.rotator(config()), &secret).await;
    assert!(!h.key_ids(&user).await.contains(&glass));
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
}

#[tokio::test]
async fn only_keys_the_rotator_made_or_the_secret_proved_are_retired() {
    // AWSCURRENT names a key of the user whose secret key it does not hold: finishSecret never
    // retires it, even with OLD_KEY_ACTION=delete.
    let h = Harness::new();
    let user = unique("noproof");
    let (secret, k0, _) = h.user_with_secret(&user, json!({})).await;
    let mut value = h.current(&secret).await;
    value["SecretAccessKey"] = json!("wrong-secret-key-wrong-secret-key-1234");
    h.put_version(&secret, None, &value.to_string(), None).await;
    let rotator = h.rotator(RotationConfig {
        old_key_action: OldKeyAction::Delete,
        ..config()
    });
    h.rotate(&rotator, &secret).await;
    let keys = h.keys(&user).await;
    let k0_now = keys.iter().find(|k| k.id == k0).expect("k0 was deleted");
    assert!(k0_now.is_active());
    // The key it made is its own: once a person removed k0, the next rotation retires it.
    let k1 = h.key_id(&secret, "AWSCURRENT").await;
    h.iam()
        .delete_access_key()
        .user_name(&user)
        .access_key_id(&k0)
        .send()
        .await
        .unwrap();
    h.rotate(&rotator, &secret).await;
    let ids = h.key_ids(&user).await;
    assert!(!ids.contains(&k1), "k1 was not retired: {ids:?}");
    let own: Vec<(String, String)> = h
        .user_tags(h.iam(), &user)
        .await
        .into_iter()
        .filter(|(k, _)| k == OWN_KEYS_TAG)
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
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
    h.put_version(&secret, None, &value.to_string(), None).await;
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

#[tokio::test]
async fn a_rotation_through_the_key_writer_role_works_and_assumes_it_once() {
    // KEY_WRITER_ROLE_ARN: every IAM call of the rotation goes through one session of that role
    // (moto does not evaluate the role's ABAC condition; tests/template.rs proves its text and
    // tests/rotation_mocks.rs the session tag).
    let h = Harness::new();
    let role = unique("key-writer");
    // moto honours a same-account trust only when it names the principal itself (a
    // `:root` principal works across accounts only).
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/admin")},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]});
    let arn = h
        .iam()
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_owned();
    let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "iam:*", "Resource": "*"}]});
    h.iam()
        .put_role_policy()
        .role_name(&role)
        .policy_name("key-writer")
        .policy_document(allow.to_string())
        .send()
        .await
        .unwrap();
    let user = unique("via-writer");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;
    let proxy = crate::common::proxy::Proxy::start(&crate::common::env::moto_endpoint()).await;
    let rotator = h.rotator_at(
        &proxy.url,
        RotationConfig {
            key_writer_role_arn: Some(arn),
            ..config()
        },
    );
    h.rotate(&rotator, &secret).await;
    assert_current_authenticates(&h, &secret, ACCOUNT, &user).await;
    let assumed = proxy
        .ops()
        .iter()
        .filter(|op| op.contains("AssumeRole"))
        .count();
    assert_eq!(assumed, 1, "{:?}", proxy.ops());
}
