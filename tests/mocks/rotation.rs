//! What real AWS answers and moto does not, through aws-smithy-mocks: propagation errors in
//! testSecret, another identity, LimitExceeded, throttling, a role that cannot be assumed.
//! Modeled errors carry their code in the error metadata, as the SDK's deserializers set it.

use crate::support::rotation::*;

use aws_key_rotation::rotation::config::{OldKeyAction, RotationConfig};
use aws_sdk_iam::operation::create_access_key::CreateAccessKeyError;
use aws_sdk_iam::operation::get_user::GetUserOutput;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysError;
use aws_sdk_iam::operation::tag_user::{TagUserError, TagUserOutput};
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
use aws_smithy_mocks::{mock, Rule};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn test_secret_waits_out_key_propagation() {
    let (d, p) = (describe("AWSPENDING"), pending_value(true));
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .error(|| GetCallerIdentityError::generic(sts_error("InvalidClientTokenId")))
        .times(2)
        .error(|| GetCallerIdentityError::generic(sts_error("SignatureDoesNotMatch")))
        .output(identity("arn:aws:iam::123456789012:user/engineering/alice"))
        .build();
    let m = rotator(&[&d, &p], &[], &[&sts], RotationConfig::default());
    m.rotator.handle(event("testSecret"), 0).await.unwrap();
    assert_eq!(sts.num_calls(), 4);
    assert_eq!(m.emitted.lock().unwrap()[0]["TestAttempts"], 4);
}

#[tokio::test(start_paused = true)]
async fn test_secret_rejects_another_identity_at_once() {
    let (d, p) = (describe("AWSPENDING"), pending_value(true));
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(identity("arn:aws:iam::123456789012:user/bob"));
    let m = rotator(&[&d, &p], &[], &[&sts], RotationConfig::default());
    let err = m.fails("testSecret").await;
    assert_eq!(err.error_type(), "Rotation.IdentityMismatch");
    assert!(
        err.to_string().contains("user/bob") && err.to_string().contains("\"alice\""),
        "{err}"
    );
    assert_eq!(sts.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn test_secret_gives_up_within_test_timeout() {
    let (d, p) = (describe("AWSPENDING"), pending_value(true));
    let sts = key_never_accepted();
    let config = RotationConfig {
        test_timeout: Duration::from_secs(10),
        ..RotationConfig::default()
    };
    let m = rotator(&[&d, &p], &[], &[&sts], config);
    let started = tokio::time::Instant::now();
    let err = m.fails("testSecret").await;
    assert_eq!(err.error_type(), "Rotation.TestTimeout");
    assert!(err.to_string().contains("InvalidClientTokenId"), "{err}");
    // 0.5 + 1 + 2 + 4 s of backoff fit in 10 s; the next 4 s would not.
    assert_eq!(sts.num_calls(), 5);
    assert!(started.elapsed() <= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn test_secret_stays_inside_the_invocation_deadline() {
    let (d, p) = (describe("AWSPENDING"), pending_value(true));
    let sts = key_never_accepted();
    let m = rotator(&[&d, &p], &[], &[&sts], RotationConfig::default());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let started = tokio::time::Instant::now();
    // 5 s left in the invocation although TEST_TIMEOUT_SECONDS is 60: 2 s stay in reserve.
    let err = m
        .rotator
        .handle(event("testSecret"), now_ms + 5_000)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Rotation.TestTimeout");
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sts.num_calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn limit_exceeded_fails_create_secret_and_stores_nothing() {
    let world = CreateSecretWorld::new();
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(one_key);
    let create = mock!(aws_sdk_iam::Client::create_access_key).then_error(|| {
        CreateAccessKeyError::LimitExceededException(
            aws_sdk_iam::types::error::LimitExceededException::builder()
                .message("Cannot exceed quota for AccessKeysPerUser: 2")
                .meta(iam_error("LimitExceeded"))
                .build(),
        )
    });
    let m = world.rotator(&list, &create);
    let err = m.fails("createSecret").await;
    assert_eq!(err.error_type(), "Rotation.KeyLimitExceeded");
    assert!(
        err.to_string().contains("LimitExceeded") && err.to_string().contains("\"alice\""),
        "{err}"
    );
    assert_eq!(world.put().num_calls(), 0);
    assert_eq!(m.emitted.lock().unwrap()[0]["StepFailed"], 1);
    // No key was made: the intent is cleared, so a key a person makes before the retry is
    // never taken for this attempt's orphan.
    assert_eq!(world.tag.num_calls(), 1);
    assert_eq!(world.untag.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn iam_throttling_is_retried_by_the_sdk() {
    let world = CreateSecretWorld::new();
    let create = created_key();
    let list = mock!(aws_sdk_iam::Client::list_access_keys)
        .sequence()
        .error(|| ListAccessKeysError::generic(iam_error("Throttling")))
        .times(2)
        .output(one_key)
        .build();
    let m = world.rotator(&list, &create);
    m.rotator.handle(event("createSecret"), 0).await.unwrap();
    assert_eq!(list.num_calls(), 3);
    assert_eq!(create.num_calls(), 1);
    assert_eq!(world.put().num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_create_access_key_is_not_retried_blindly() {
    let world = CreateSecretWorld::new();
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(one_key);
    let create = mock!(aws_sdk_iam::Client::create_access_key)
        .sequence()
        .error(|| CreateAccessKeyError::generic(iam_error("Throttling")))
        .repeatedly()
        .build();
    let m = world.rotator(&list, &create);
    let err = m.fails("createSecret").await;
    // Throttling is a definite answer: no key was made, so the intent is cleared and
    // Secrets Manager's retry starts afresh.
    assert_eq!(err.error_type(), "Rotation.Retryable");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(world.put().num_calls(), 0);
    assert_eq!(world.untag.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_outcome_of_create_access_key_keeps_the_intent() {
    let world = CreateSecretWorld::new();
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(one_key);
    // A 500: IAM may or may not have made the key.
    let create = mock!(aws_sdk_iam::Client::create_access_key).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Code>ServiceFailure</Code></Error></ErrorResponse>",
            ),
        )
    });
    let m = world.rotator(&list, &create);
    let err = m.fails("createSecret").await;
    assert_eq!(err.error_type(), "Rotation.Retryable", "{err}");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(world.tag.num_calls(), 1);
    // The retry needs the intent to recognise a key this attempt may have made.
    assert_eq!(world.untag.num_calls(), 0);
    assert_eq!(world.put().num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_user_at_its_tag_quota_gets_a_clear_error_before_any_key_changes() {
    for code in ["LimitExceeded", "AccessDenied"] {
        let world = CreateSecretWorld::new();
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(one_key);
        let create = created_key();
        // IAM enforces 50 tags per user; moto does not.
        let tag = mock!(aws_sdk_iam::Client::tag_user)
            .then_error(move || TagUserError::generic(iam_error(code)));
        let m = world.rotator_with_tag(&tag, &list, &create);
        let err = m.fails("createSecret").await;
        assert_eq!(err.error_type(), "Rotation.IntentNotRecorded", "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("50 tags") && msg.contains("iam:TagUser") && msg.contains(code),
            "{msg}"
        );
        assert!(
            msg.contains(SECRET) && msg.contains("createSecret"),
            "{msg}"
        );
        assert_eq!(create.num_calls(), 0);
        assert_eq!(world.put().num_calls(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn the_intent_is_recorded_before_the_first_deletion() {
    // The user is at two keys: the replaced key must go, but only after the intent is there.
    let world = CreateSecretWorld::new();
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (o1, o2) = (order.clone(), order.clone());
    // MatchAny takes the first rule that matches: this AWSCURRENT value comes before the world's.
    let current = current_value(json!({"PreviousAccessKeyId": "AKIAPREVPREVPREVPRE3"}));
    let secrets: Vec<&Rule> = std::iter::once(&current).chain(&world.secrets).collect();
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
        let mut out = keys(&[OLD_KEY, "AKIAPREVPREVPREVPRE3"]);
        out.access_key_metadata[1].status = Some(StatusType::Inactive);
        out
    });
    let tag = mock!(aws_sdk_iam::Client::tag_user).then_output(move || {
        o1.lock().unwrap().push("TagUser");
        TagUserOutput::builder().build()
    });
    let delete = mock!(aws_sdk_iam::Client::delete_access_key).then_output(move || {
        o2.lock().unwrap().push("DeleteAccessKey");
        aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder().build()
    });
    // The rotator made both keys for this secret.
    let user = mock!(aws_sdk_iam::Client::get_user).then_output(|| {
        let own = aws_key_rotation::binding::own_keys_value(
            SECRET,
            &[OLD_KEY.to_owned(), "AKIAPREVPREVPREVPRE3".to_owned()],
        );
        aws_sdk_iam::operation::get_user::GetUserOutput::builder()
            .user(crate::support::iam_user_tagged(
                USER,
                1_700_000_000,
                &[
                    (aws_key_rotation::binding::BINDING_TAG, SECRET.to_owned()),
                    (aws_key_rotation::binding::OWN_KEYS_TAG, own),
                ],
            ))
            .build()
    });
    let create = created_key();
    let m = rotator(
        &secrets,
        &[&user, &tag, &world.untag, &list, &create, &delete],
        &[],
        RotationConfig::default(),
    );
    m.rotator.handle(event("createSecret"), 0).await.unwrap();
    // The intent, the deletion, then (after CreateAccessKey) the record of the new key.
    assert_eq!(
        *order.lock().unwrap(),
        vec!["TagUser", "DeleteAccessKey", "TagUser"]
    );
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_role_that_cannot_be_assumed_is_named_and_nothing_is_touched() {
    let role = "arn:aws:iam::210987654321:role/KeyRotation";
    let (d, c, p) = (
        describe("AWSPENDING"),
        current_value(json!({"RoleArn": role, "ExternalId": "ext"})),
        pending_value(false),
    );
    let assume = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|r| r.external_id() == Some("ext"))
        .then_error(|| AssumeRoleError::generic(sts_error("AccessDenied")));
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(one_key);
    let user = bound_user();
    let m = rotator(
        &[&d, &c, &p],
        &[&list, &user],
        &[&assume],
        RotationConfig::default(),
    );
    let err = m.fails("createSecret").await;
    assert_eq!(err.error_type(), "Rotation.AssumeRoleFailed");
    assert!(
        err.to_string().contains(role) && err.to_string().contains("AccessDenied"),
        "{err}"
    );
    assert_eq!(assume.num_calls(), 1);
    assert_eq!(list.num_calls(), 0);
    assert_eq!(user.num_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_to_the_stage_move_is_recognised_as_done() {
    // The first UpdateSecretVersionStage took effect but its answer was lost; the retry is
    // refused because AWSCURRENT already moved. finishSecret must see that and go on.
    fn meta(stages: Vec<String>) -> DescribeSecretOutput {
        DescribeSecretOutput::builder()
            .arn(SECRET)
            .rotation_enabled(true)
            .version_ids_to_stages(
                "current-version",
                vec![if stages.len() == 1 {
                    "AWSCURRENT"
                } else {
                    "AWSPREVIOUS"
                }
                .into()],
            )
            .version_ids_to_stages(TOKEN, stages)
            .build()
    }
    let describes = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .sequence()
        .output(|| meta(vec!["AWSPENDING".into()]))
        .output(|| meta(vec!["AWSCURRENT".into(), "AWSPENDING".into()]))
        .build();
    let p = pending_value(true);
    let stage = mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage).then_error(|| {
        aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageError::InvalidParameterException(
            aws_sdk_secretsmanager::types::error::InvalidParameterException::builder()
                .message("Version stage AWSCURRENT not found in version current-version")
                .meta(aws_sdk_secretsmanager::error::ErrorMetadata::builder().code("InvalidParameterException").build())
                .build(),
        )
    });
    let deactivate = mock!(aws_sdk_iam::Client::update_access_key)
        .match_requests(|r| {
            r.access_key_id() == Some(OLD_KEY) && r.status() == Some(&StatusType::Inactive)
        })
        .then_output(|| {
            aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput::builder().build()
        });
    let [t, u] = secret_tags_ok();
    let user = bound_user();
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    let switched = switch_record(true);
    let m = rotator(
        &[&describes, &p, &stage, &t, &u],
        &[&user, &deactivate, &list, &switched],
        &[],
        RotationConfig {
            old_key_action: OldKeyAction::Deactivate,
            ..RotationConfig::default()
        },
    );
    m.rotator.handle(event("finishSecret"), 0).await.unwrap();
    assert_eq!(stage.num_calls(), 1);
    assert_eq!(describes.num_calls(), 2);
    assert_eq!(deactivate.num_calls(), 1);
    assert_eq!(switched.num_calls(), 1, "the switch is recorded once");
    assert_eq!(m.emitted.lock().unwrap()[0]["KeysDeactivated"], 1);
}

/// The rule for the record of the switch finishSecret writes on the user right after moving
/// AWSCURRENT (`KeyRotationSwitched` = `<new key>:<epoch seconds>`, nothing else in the call),
/// answering OK or AccessDenied.
fn switch_record(ok: bool) -> Rule {
    use aws_key_rotation::binding::{switched_at, SWITCHED_TAG};
    let rule = mock!(aws_sdk_iam::Client::tag_user).match_requests(|r| {
        matches!(r.tags(), [t] if t.key() == SWITCHED_TAG
            && switched_at(Some(t.value()), NEW_KEY).is_some())
    });
    if ok {
        rule.then_output(|| TagUserOutput::builder().build())
    } else {
        rule.then_error(|| TagUserError::generic(iam_error("AccessDenied")))
    }
}

/// The record of the switch is best effort: when IAM refuses it (a key-writer policy without
/// `KeyRotationSwitched`, say), finishSecret still succeeds, AWSCURRENT moved, and the sweep
/// counts from the secret's last rotation instead.
#[tokio::test(start_paused = true)]
async fn a_switch_that_cannot_be_recorded_still_finishes_the_rotation() {
    let d = describe("AWSPENDING");
    let p = pending_value(true);
    let stage = mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
        .match_requests(|r| {
            r.version_stage() == Some("AWSCURRENT") && r.move_to_version_id() == Some(TOKEN)
        })
        .then_output(|| {
            aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput::builder()
                .build()
        });
    let [t, u] = secret_tags_ok();
    let user = bound_user();
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    for ok in [true, false] {
        let switched = switch_record(ok);
        let m = rotator(
            &[&d, &p, &stage, &t, &u],
            &[&user, &list, &switched],
            &[],
            RotationConfig::default(),
        );
        m.rotator.handle(event("finishSecret"), 0).await.unwrap();
        assert_eq!(switched.num_calls(), 1, "ok={ok}");
    }
    assert_eq!(stage.num_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn test_secret_matches_the_user_name_as_iam_does() {
    // The secret says "Alice"; IAM's user is "alice" (IAM names are case-insensitive), and
    // STS answers with IAM's spelling.
    let d = describe("AWSPENDING");
    let p = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.version_id() == Some(TOKEN))
        .then_output(|| {
            GetSecretValueOutput::builder()
                .arn(SECRET)
                .version_id(TOKEN)
                .secret_string(
                    json!({"UserName": "Alice", "AccessKeyId": NEW_KEY, "SecretAccessKey": "new-secret-key-material"})
                        .to_string(),
                )
                .build()
        });
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(identity("arn:aws:iam::123456789012:user/alice"));
    let m = rotator(&[&d, &p], &[], &[&sts], RotationConfig::default());
    m.rotator.handle(event("testSecret"), 0).await.unwrap();
    assert_eq!(sts.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn set_secret_waits_briefly_for_iam_to_list_a_fresh_key() {
    let (d, p, user) = (describe("AWSPENDING"), pending_value(true), bound_user());
    // IAM's read lags the CreateAccessKey made moments earlier.
    let lagging = mock!(aws_sdk_iam::Client::list_access_keys)
        .sequence()
        .output(|| keys(&[OLD_KEY]))
        .times(2)
        .output(|| keys(&[OLD_KEY, NEW_KEY]))
        .build();
    let m = rotator(
        &[&d, &p],
        &[&user, &lagging],
        &[],
        RotationConfig::default(),
    );
    m.rotator.handle(event("setSecret"), 0).await.unwrap();
    assert_eq!(lagging.num_calls(), 3);

    // A key that never shows up fails after a bounded wait, inside the deadline.
    let never = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY]));
    let m = rotator(&[&d, &p], &[&user, &never], &[], RotationConfig::default());
    let started = tokio::time::Instant::now();
    let err = m.fails("setSecret").await;
    assert_eq!(err.error_type(), "Rotation.PendingKeyMissing");
    assert_eq!(never.num_calls(), 5);
    assert!(
        started.elapsed() <= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn set_and_finish_refuse_an_unbound_user_before_any_write() {
    for step in ["setSecret", "finishSecret"] {
        let (d, p) = (describe("AWSPENDING"), pending_value(true));
        let unbound = user_bound_to(None);
        let list =
            mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
        let stage = stage_moved();
        let m = rotator(
            &[&d, &p, &stage],
            &[&unbound, &list],
            &[],
            RotationConfig::default(),
        );
        let err = m.fails(step).await;
        assert_eq!(err.error_type(), "Rotation.UserNotBound", "{step}: {err}");
        let msg = err.to_string();
        // The user, the secret and the tag, and a warning; never the command that would
        // complete a hijack.
        for want in ["alice", SECRET, "KeyRotationSecret", "redirect the rotator"] {
            assert!(msg.contains(want), "{want:?} missing from: {msg}");
        }
        assert!(!msg.contains("aws iam tag-user"), "{msg}");
        assert_eq!(stage.num_calls(), 0, "{step} moved AWSCURRENT");
        assert_eq!(list.num_calls(), 0, "{step} read the user's keys");
    }
}

/// AssumeRole of the key-writer role, answered only when the session carries the tag
/// `KeyRotationSecret=<the secret's ARN>` (what the role's ABAC policy reads).
fn tagged_assume_role() -> Rule {
    mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some(KEY_WRITER)
                && r.tags()
                    .iter()
                    .any(|t| t.key() == "KeyRotationSecret" && t.value() == SECRET)
        })
        .then_output(|| {
            let expires =
                aws_smithy_types::DateTime::from_secs(aws_key_rotation::time::now_secs() + 900);
            aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                .credentials(
                    aws_sdk_sts::types::Credentials::builder()
                        .access_key_id("ASIAKEYWRITER")
                        .secret_access_key("key-writer-session-secret")
                        .session_token("key-writer-session-token")
                        .expiration(expires)
                        .build()
                        .unwrap(),
                )
                .build()
        })
}

const KEY_WRITER: &str = "arn:aws:iam::123456789012:role/key-writer";

#[tokio::test]
async fn iam_is_reached_through_one_key_writer_session_tagged_with_the_secrets_arn() {
    let (d, p, user) = (describe("AWSPENDING"), pending_value(true), bound_user());
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    let assume = tagged_assume_role();
    let m = rotator(
        &[&d, &p],
        &[&user, &list],
        &[&assume],
        RotationConfig {
            key_writer_role_arn: Some(KEY_WRITER.to_owned()),
            ..RotationConfig::default()
        },
    );
    // Two steps of one rotation: one AssumeRole, its session reused.
    for _ in 0..2 {
        m.rotator.handle(event("setSecret"), 0).await.unwrap();
    }
    assert_eq!(assume.num_calls(), 1);
    assert_eq!(user.num_calls(), 2);
}

/// IAM paths go up to 512 characters and a secret tag value only to 256: the tag that says in
/// which account the user is holds the 12-digit account id alone, so a user with a long path
/// cannot make Secrets Manager refuse the one TagResource that also records the new key id
/// (which the sweep reads to retire the replaced key).
#[tokio::test(start_paused = true)]
async fn finish_records_the_key_ids_and_the_account_of_a_user_with_a_long_path() {
    let d = describe("AWSPENDING");
    let p = pending_value(true);
    let stage = stage_moved();
    let path = format!("/{}/", "p".repeat(298));
    assert_eq!(path.len(), 300);
    let user = mock!(aws_sdk_iam::Client::get_user).then_output(move || {
        let own = aws_key_rotation::binding::own_keys_value(
            SECRET,
            &[OLD_KEY.to_owned(), NEW_KEY.to_owned()],
        );
        let mut u = crate::support::iam_user_tagged(
            USER,
            1_700_000_000,
            &[
                (aws_key_rotation::binding::BINDING_TAG, SECRET.to_owned()),
                (aws_key_rotation::binding::OWN_KEYS_TAG, own),
                (
                    aws_key_rotation::rotation::intent::INTENT_TAG,
                    made_under_token(),
                ),
            ],
        );
        u.arn = format!("arn:aws:iam::123456789012:user{path}{USER}");
        u.path = path.clone();
        GetUserOutput::builder().user(u).build()
    });
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    let switched = switch_record(true);
    // Secrets Manager refuses a tag value over 256 characters, and with it the whole request.
    let written: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = written.clone();
    let tag = mock!(aws_sdk_secretsmanager::Client::tag_resource)
        .match_requests(move |r| {
            let tags: Vec<_> = r
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            if tags.iter().all(|(_, v)| v.len() <= 256) {
                seen.lock().unwrap().extend(tags);
            }
            true
        })
        .then_output(|| {
            aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput::builder().build()
        });
    let untag = mock!(aws_sdk_secretsmanager::Client::untag_resource).then_output(|| {
        aws_sdk_secretsmanager::operation::untag_resource::UntagResourceOutput::builder().build()
    });
    let m = rotator(
        &[&d, &p, &stage, &tag, &untag],
        &[&user, &list, &switched],
        &[],
        RotationConfig::default(),
    );
    m.rotator.handle(event("finishSecret"), 0).await.unwrap();
    let written = written.lock().unwrap().clone();
    let value = |k: &str| {
        written
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        value("KeyRotationAccessKeyId").as_deref(),
        Some(NEW_KEY),
        "{written:?}"
    );
    assert_eq!(
        value("KeyRotationPreviousAccessKeyId").as_deref(),
        Some(OLD_KEY),
        "{written:?}"
    );
    assert_eq!(
        value("KeyRotationUserAccount").as_deref(),
        Some("123456789012"),
        "{written:?}"
    );
    assert!(
        written.iter().all(|(k, _)| k != "KeyRotationUserArn"),
        "{written:?}"
    );
}

/// Reproduced attack: after a rotation made K2 current, a writer of the secret stages
/// AWSPENDING again on the version that holds K1 (still Active, and the secret's own), with
/// AWSCURRENT too or not, and anyone who may invoke the rotator sends finishSecret with that
/// version's id. finishSecret refuses a key older than another key the rotator made for the
/// secret, on a resumed step too, before anything is recorded, moved or retired; a key made
/// after it (a real rotation) is finished.
#[tokio::test(start_paused = true)]
async fn finish_refuses_a_key_older_than_another_the_rotator_made_for_the_secret() {
    const LATER: &str = "AKIALATERLATERLATER1";
    for stages in ["AWSPENDING", "AWSCURRENT,AWSPENDING"] {
        for (pending_created, refused) in [(1_700_000_000, true), (1_800_000_000, false)] {
            let (d, p) = (describe(stages), pending_value(true));
            let user = bound_user_with(&[OLD_KEY, NEW_KEY, LATER], made_under_token());
            let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(move || {
                let key = |id, created| {
                    crate::support::access_key(USER, id, StatusType::Active, Some(created))
                };
                aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                    .set_access_key_metadata(Some(vec![
                        key(NEW_KEY, pending_created),
                        key(LATER, 1_750_000_000),
                    ]))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            });
            let stage = stage_moved();
            let [t, u] = secret_tags_ok();
            let tag = tag_ok();
            let retire = delete_ok();
            let m = rotator(
                &[&d, &p, &stage, &t, &u],
                &[&user, &list, &tag, &retire],
                &[],
                RotationConfig {
                    old_key_action: OldKeyAction::Delete,
                    ..RotationConfig::default()
                },
            );
            let result = m.rotator.handle(event("finishSecret"), 0).await;
            let writes = stage.num_calls() + tag.num_calls() + t.num_calls() + retire.num_calls();
            if refused {
                let err = result.unwrap_err();
                assert_eq!(
                    err.error_type(),
                    "Rotation.PendingKeyInactive",
                    "{stages}: {err}"
                );
                assert!(
                    err.to_string()
                        .contains("older than another key the rotator made"),
                    "{err}"
                );
                assert_eq!(writes, 0, "{stages}");
            } else {
                result.unwrap();
                assert!(writes > 0, "{stages}");
            }
        }
    }
}

/// Reproduced attack: a writer of the secret puts a version of their own and stages it
/// AWSCURRENT and AWSPENDING, so that finishSecret, invoked by anyone who may, resumes it. The
/// resumed step used to check nothing and retire the key the version names as replaced (here
/// the user's live key): without a key id, or with one IAM does not list, it is refused with
/// nothing recorded or retired.
#[tokio::test(start_paused = true)]
async fn a_resumed_finish_on_a_staged_version_retires_nothing() {
    for value in [
        json!({"UserName": USER, "PreviousAccessKeyId": OLD_KEY}),
        json!({"UserName": USER, "AccessKeyId": "AKIANOTLISTEDANYWHER", "SecretAccessKey": "x", "PreviousAccessKeyId": OLD_KEY}),
        // A writer's text in the key id field never reaches the error or the logs.
        json!({"UserName": USER, "AccessKeyId": "wJalr/secretish+KEY", "SecretAccessKey": "x", "PreviousAccessKeyId": OLD_KEY}),
    ] {
        let (logs, _guard) = crate::support::logs_at_trace();
        let d = describe("AWSCURRENT,AWSPENDING");
        let text = value.to_string();
        let p = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.version_id() == Some(TOKEN))
            .then_output(move || {
                GetSecretValueOutput::builder()
                    .arn(SECRET)
                    .version_id(TOKEN)
                    .secret_string(text.clone())
                    .build()
            });
        let user = bound_user();
        let list =
            mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
        let [t, u] = secret_tags_ok();
        let tag = tag_ok();
        let retire = delete_ok();
        let m = rotator(
            &[&d, &p, &t, &u],
            &[&user, &list, &tag, &retire],
            &[],
            RotationConfig {
                old_key_action: OldKeyAction::Delete,
                ..RotationConfig::default()
            },
        );
        let err = m.fails("finishSecret").await;
        assert!(
            matches!(
                err.error_type(),
                "Rotation.PendingKeyInactive" | "Rotation.InvalidSecret"
            ),
            "{value}: {err}"
        );
        assert_eq!(
            tag.num_calls() + t.num_calls() + u.num_calls() + retire.num_calls(),
            0,
            "{value}"
        );
        assert!(!err.to_string().contains("secretish"), "{err}");
        let text = logs.text();
        assert_eq!(
            text.contains("cannot be made current"),
            value.get("AccessKeyId").is_some(),
            "{text}"
        );
        assert!(!text.contains("secretish"), "{text}");
    }
}

/// Reproduced attack: while a rotation is under way (createSecret made NEW_KEY under token T),
/// a writer of the secret puts a version of their own under another token, naming NEW_KEY with
/// a secret that does not work and OLD_KEY, the live key, as replaced; anyone who may invoke
/// the rotator sends finishSecret for it. NEW_KEY is the secret's own, but the intent ties it
/// to T: without a proof that the version holds its secret, nothing moves and nothing is
/// retired.
#[tokio::test(start_paused = true)]
async fn another_version_naming_the_rotations_key_cannot_finish_it() {
    let d = describe("AWSPENDING");
    let p = pending_value(true);
    let made_under_t = aws_key_rotation::rotation::intent::Intent::new(
        "the-rotations-own-token",
        1_700_000_000,
        vec![OLD_KEY.to_owned()],
    )
    .completed(NEW_KEY)
    .to_tag_value();
    let user = bound_user_with(&[OLD_KEY, NEW_KEY], made_under_t);
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    let stage = stage_moved();
    let [t, u] = secret_tags_ok();
    let tag = tag_ok();
    let retire = delete_ok();
    // The version's secret does not sign as the user.
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_error(|| GetCallerIdentityError::unhandled("InvalidClientTokenId"));
    let m = rotator(
        &[&d, &p, &stage, &t, &u],
        &[&user, &list, &tag, &retire],
        &[&sts],
        RotationConfig {
            old_key_action: OldKeyAction::Delete,
            ..RotationConfig::default()
        },
    );
    let err = m.fails("finishSecret").await;
    assert_eq!(err.error_type(), "Rotation.PendingKeyInactive", "{err}");
    assert!(
        err.to_string()
            .contains("was not created by the rotator for this secret"),
        "{err}"
    );
    assert_eq!(
        stage.num_calls() + tag.num_calls() + t.num_calls() + retire.num_calls(),
        0
    );
}

/// Reproduced attack: createSecret's store fails (a writer padded AWSCURRENT to just under the
/// 64 KiB a value may hold, say), and the writer then stores a value of their own under the
/// token, naming the new key with a secret that does not work. The intent is completed, and the
/// key recorded as the secret's own, only after the rotator's own value is stored: here it stays
/// open, so finishSecret asks the version to prove it holds the key's secret.
#[tokio::test(start_paused = true)]
async fn the_new_key_is_recorded_only_after_its_value_is_stored() {
    let world = CreateSecretWorld::new();
    let refused = mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_error(|| {
        aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError::unhandled(
            "ValidationException",
        )
    });
    let secrets: Vec<&Rule> = std::iter::once(&refused)
        .chain(world.secrets.iter())
        .collect();
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY]));
    let create = created_key();
    let m = rotator(
        &secrets,
        &[&world.user, &world.tag, &world.untag, &list, &create],
        &[],
        RotationConfig::default(),
    );
    m.fails("createSecret").await;
    assert_eq!(create.num_calls(), 1);
    // The intent alone: no record of the new key, no completed intent.
    assert_eq!(world.tag.num_calls(), 1);
    assert_eq!(world.put().num_calls(), 0);
}

/// On a secret's first rotation its current key, made by a person, becomes the secret's own
/// once the secret proves it holds it; that proof is recorded in the intent's TagUser, before
/// anything changes, so that no later failure (the best-effort record after the store, a user
/// at IAM's tag limit) loses it and leaves the key unknown to the next rotation.
#[tokio::test(start_paused = true)]
async fn a_proved_current_key_is_recorded_with_the_intent() {
    let world = CreateSecretWorld::new();
    let user = user_bound_to(Some(SECRET));
    type Tags = Vec<(String, String)>;
    let seen: Arc<Mutex<Vec<Tags>>> = Arc::default();
    let recorded = seen.clone();
    let tag = mock!(aws_sdk_iam::Client::tag_user)
        .match_requests(move |r| {
            recorded.lock().unwrap().push(
                r.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            );
            true
        })
        .then_output(|| TagUserOutput::builder().build());
    let list = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY]));
    let create = created_key();
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(identity("arn:aws:iam::123456789012:user/alice"));
    let secrets: Vec<&Rule> = world.secrets.iter().collect();
    let m = rotator(
        &secrets,
        &[&user, &tag, &world.untag, &list, &create],
        &[&sts],
        RotationConfig::default(),
    );
    m.rotator.handle(event("createSecret"), 0).await.unwrap();
    assert_eq!(sts.num_calls(), 1);
    let seen = seen.lock().unwrap();
    let own_in = |call: &[(String, String)]| {
        aws_key_rotation::binding::own_keys(
            call.iter()
                .find(|(k, _)| k == aws_key_rotation::binding::OWN_KEYS_TAG)
                .map(|(_, v)| v.as_str()),
            SECRET,
        )
    };
    // The intent's TagUser, before CreateAccessKey: the proved key with it.
    assert!(seen[0]
        .iter()
        .any(|(k, _)| k == aws_key_rotation::rotation::intent::INTENT_TAG));
    assert_eq!(own_in(&seen[0]), [OLD_KEY]);
    // After the store: the new key joins it.
    assert_eq!(own_in(&seen[1]), [OLD_KEY, NEW_KEY]);
}

/// When createSecret could not record the new key after storing it, finishSecret has the
/// version prove it holds the key's secret, then records the key among the secret's own and
/// completes the intent with it, in the one TagUser of the switch: the intent then names this
/// key and no other.
#[tokio::test(start_paused = true)]
async fn finish_records_a_key_createsecret_could_not() {
    use aws_key_rotation::binding::{OWN_KEYS_TAG, SWITCHED_TAG};
    use aws_key_rotation::rotation::intent::{Intent, INTENT_TAG};
    let (d, p) = (describe("AWSPENDING"), pending_value(true));
    let open = Intent::new(TOKEN, 1_700_000_000, vec![OLD_KEY.to_owned()]).to_tag_value();
    let user = bound_user_with(&[OLD_KEY], open);
    let list =
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| keys(&[OLD_KEY, NEW_KEY]));
    let stage = stage_moved();
    let [t, u] = secret_tags_ok();
    let recorded = mock!(aws_sdk_iam::Client::tag_user)
        .match_requests(|r| {
            let tag = |name: &str| {
                r.tags()
                    .iter()
                    .find(|t| t.key() == name)
                    .map(|t| t.value().to_owned())
            };
            tag(SWITCHED_TAG).is_some()
                && aws_key_rotation::binding::own_keys(tag(OWN_KEYS_TAG).as_deref(), SECRET)
                    == [OLD_KEY, NEW_KEY]
                && tag(INTENT_TAG)
                    .and_then(|v| Intent::from_tag_value(&v))
                    .is_some_and(|i| i.is_for(TOKEN) && i.created.as_deref() == Some(NEW_KEY))
        })
        .then_output(|| TagUserOutput::builder().build());
    let sts = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(identity("arn:aws:iam::123456789012:user/alice"));
    let m = rotator(
        &[&d, &p, &stage, &t, &u],
        &[&user, &list, &recorded],
        &[&sts],
        RotationConfig::default(),
    );
    m.rotator.handle(event("finishSecret"), 0).await.unwrap();
    assert_eq!(sts.num_calls(), 1);
    assert_eq!(recorded.num_calls(), 1);
    assert_eq!(stage.num_calls(), 1);
}
