//! aws-smithy-mocks rules of the rotator's tests: Secrets Manager, IAM and STS as real AWS
//! answers them for alice's secret, and a rotator over them.

use super::{access_key, iam_user};
use crate::common::{keep_in, Emitted, ACCOUNT};
use aws_key_rotation::aws::RotationAws;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::intent::{Intent, INTENT_TAG};
use aws_key_rotation::rotation::Rotator;
use aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput;
use aws_sdk_iam::operation::get_user::GetUserOutput;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::tag_user::TagUserOutput;
use aws_sdk_iam::operation::untag_user::UntagUserOutput;
use aws_sdk_iam::types::{AccessKey, StatusType};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_sts::operation::get_caller_identity::{
    GetCallerIdentityError, GetCallerIdentityOutput,
};
use aws_smithy_mocks::{mock, Rule, RuleMode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:svc/alice-AbCdEf";
pub const TOKEN: &str = "5d1c8e0a-3f7b-4c1e-9a55-2b7f0e6d9c41";
pub const USER: &str = "alice";
pub const OLD_KEY: &str = "AKIAOLDOLDOLDOLDOLD1";
pub const NEW_KEY: &str = "AKIANEWNEWNEWNEWNEW2";

pub fn describe(stages: &'static str) -> Rule {
    mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(move || {
        DescribeSecretOutput::builder()
            .arn(SECRET)
            .name("svc/alice")
            .rotation_enabled(true)
            .version_ids_to_stages("current-version", vec!["AWSCURRENT".into()])
            .version_ids_to_stages(TOKEN, stages.split(',').map(str::to_owned).collect())
            .build()
    })
}

pub fn current_value(extra: Value) -> Rule {
    mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.version_stage() == Some("AWSCURRENT"))
        .then_output(move || {
            let mut v = json!({"UserName": USER, "AccessKeyId": OLD_KEY, "SecretAccessKey": "old-secret-key-material"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            GetSecretValueOutput::builder().arn(SECRET).secret_string(v.to_string()).build()
        })
}

pub fn pending_value(present: bool) -> Rule {
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.version_id() == Some(TOKEN));
    if present {
        rule.then_output(|| {
            GetSecretValueOutput::builder()
                .arn(SECRET)
                .version_id(TOKEN)
                .secret_string(
                    json!({"UserName": USER, "AccessKeyId": NEW_KEY, "SecretAccessKey": "new-secret-key-material", "PreviousAccessKeyId": OLD_KEY})
                        .to_string(),
                )
                .build()
        })
    } else {
        rule.then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                aws_sdk_secretsmanager::types::error::ResourceNotFoundException::builder()
                    .message("Secrets Manager can't find the specified secret value for VersionId")
                    .meta(
                        aws_sdk_secretsmanager::error::ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .build(),
                    )
                    .build(),
            )
        })
    }
}

/// ListAccessKeys of alice with her one key, OLD_KEY.
pub fn one_key() -> ListAccessKeysOutput {
    keys(&[OLD_KEY])
}

/// ListAccessKeys of alice: the Active keys `ids`.
pub fn keys(ids: &[&'static str]) -> ListAccessKeysOutput {
    ListAccessKeysOutput::builder()
        .set_access_key_metadata(Some(
            ids.iter()
                .map(|id| access_key(USER, id, StatusType::Active, None))
                .collect(),
        ))
        .is_truncated(false)
        .build()
        .unwrap()
}

/// GetUser of the secret's user, with its `KeyRotationSecret` tag (`None`: unbound).
pub fn user_bound_to(secret: Option<&'static str>) -> Rule {
    mock!(aws_sdk_iam::Client::get_user).then_output(move || {
        GetUserOutput::builder()
            .user(iam_user(USER, 1_700_000_000, secret))
            .build()
    })
}

/// GetUser of alice, bound to the secret, whose two keys the rotator created for it (the user
/// tag `KeyRotationOwnKeys`).
pub fn bound_user() -> Rule {
    mock!(aws_sdk_iam::Client::get_user).then_output(|| {
        let own = aws_key_rotation::binding::own_keys_value(
            SECRET,
            &[OLD_KEY.to_owned(), NEW_KEY.to_owned()],
        );
        GetUserOutput::builder()
            .user(super::iam_user_tagged(
                USER,
                1_700_000_000,
                &[
                    (aws_key_rotation::binding::BINDING_TAG, SECRET.to_owned()),
                    (aws_key_rotation::binding::OWN_KEYS_TAG, own),
                    (INTENT_TAG, made_under_token()),
                ],
            ))
            .build()
    })
}

/// The intent createSecret left for [`TOKEN`], completed with [`NEW_KEY`]: the record that
/// makes NEW_KEY the key this rotation made.
pub fn made_under_token() -> String {
    Intent::new(TOKEN, 1_700_000_000, vec![OLD_KEY.to_owned()])
        .completed(NEW_KEY)
        .to_tag_value()
}

/// TagResource and UntagResource on the secret (the key-id tags).
pub fn secret_tags_ok() -> [Rule; 2] {
    [
        mock!(aws_sdk_secretsmanager::Client::tag_resource).then_output(|| {
            aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput::builder().build()
        }),
        mock!(aws_sdk_secretsmanager::Client::untag_resource).then_output(|| {
            aws_sdk_secretsmanager::operation::untag_resource::UntagResourceOutput::builder()
                .build()
        }),
    ]
}

pub fn tag_ok() -> Rule {
    mock!(aws_sdk_iam::Client::tag_user).then_output(|| TagUserOutput::builder().build())
}

/// UpdateSecretVersionStage, answered: the stage moved.
pub fn stage_moved() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage).then_output(|| {
        aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput::builder().build()
    })
}

/// DeleteAccessKey, answered: the key deleted.
pub fn delete_ok() -> Rule {
    mock!(aws_sdk_iam::Client::delete_access_key).then_output(|| {
        aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder().build()
    })
}

/// GetUser of alice, bound to the secret, with `own` recorded as its own keys and `intent` as
/// the intent tag.
pub fn bound_user_with(own: &[&str], intent: String) -> Rule {
    let own: Vec<String> = own.iter().map(|k| k.to_string()).collect();
    mock!(aws_sdk_iam::Client::get_user).then_output(move || {
        GetUserOutput::builder()
            .user(super::iam_user_tagged(
                USER,
                1_600_000_000,
                &[
                    (aws_key_rotation::binding::BINDING_TAG, SECRET.to_owned()),
                    (
                        aws_key_rotation::binding::OWN_KEYS_TAG,
                        aws_key_rotation::binding::own_keys_value(SECRET, &own),
                    ),
                    (INTENT_TAG, intent.clone()),
                ],
            ))
            .build()
    })
}

pub fn untag_ok() -> Rule {
    mock!(aws_sdk_iam::Client::untag_user).then_output(|| UntagUserOutput::builder().build())
}

pub fn created_key() -> Rule {
    mock!(aws_sdk_iam::Client::create_access_key).then_output(|| {
        CreateAccessKeyOutput::builder()
            .access_key(
                AccessKey::builder()
                    .user_name(USER)
                    .access_key_id(NEW_KEY)
                    .status(StatusType::Active)
                    .secret_access_key("new-secret-key-material")
                    .build()
                    .unwrap(),
            )
            .build()
    })
}

pub fn put_ok() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_output(|| {
        PutSecretValueOutput::builder()
            .arn(SECRET)
            .version_id(TOKEN)
            .build()
    })
}

pub fn iam_error(code: &str) -> aws_sdk_iam::error::ErrorMetadata {
    aws_sdk_iam::error::ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} from IAM"))
        .build()
}

pub fn sts_error(code: &str) -> aws_sdk_sts::error::ErrorMetadata {
    aws_sdk_sts::error::ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} from STS"))
        .build()
}

/// STS refuses the pending key on every attempt, as for a key that never propagates.
pub fn key_never_accepted() -> Rule {
    mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .error(|| GetCallerIdentityError::generic(sts_error("InvalidClientTokenId")))
        .repeatedly()
        .build()
}

pub fn identity(arn: &'static str) -> impl Fn() -> GetCallerIdentityOutput + Send + Sync + 'static {
    move || {
        GetCallerIdentityOutput::builder()
            .arn(arn)
            .account(ACCOUNT)
            .user_id("AIDA")
            .build()
    }
}

pub struct Mocked {
    pub rotator: Rotator,
    pub emitted: Emitted,
}

impl Mocked {
    /// Runs `step`, which must fail.
    pub async fn fails(&self, step: &str) -> aws_key_rotation::rotation::error::RotationError {
        self.rotator.handle(event(step), 0).await.unwrap_err()
    }
}

pub fn rotator(sm: &[&Rule], iam: &[&Rule], sts: &[&Rule], config: RotationConfig) -> Mocked {
    let clients = RotationAws {
        secrets: aws_smithy_mocks::mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, sm)
            .into(),
        iam: aws_smithy_mocks::mock_client!(aws_sdk_iam, RuleMode::MatchAny, iam).into(),
        sts: aws_smithy_mocks::mock_client!(aws_sdk_sts, RuleMode::MatchAny, sts).into(),
        sns: None,
    };
    let emitted: Emitted = Arc::default();
    Mocked {
        rotator: Rotator::new(clients, config).with_metrics_sink(keep_in(&emitted)),
        emitted,
    }
}

pub fn event(step: &str) -> Value {
    json!({"Step": step, "SecretId": SECRET, "ClientRequestToken": TOKEN})
}

/// Secrets Manager and IAM as createSecret finds them for a user with one key, around the two
/// IAM calls a test varies (ListAccessKeys and CreateAccessKey).
pub struct CreateSecretWorld {
    pub secrets: Vec<Rule>,
    pub user: Rule,
    pub tag: Rule,
    pub untag: Rule,
}

impl CreateSecretWorld {
    pub fn new() -> Self {
        let mut secrets = vec![
            describe("AWSPENDING"),
            current_value(json!({})),
            pending_value(false),
            put_ok(),
        ];
        secrets.extend(secret_tags_ok());
        Self {
            secrets,
            user: bound_user(),
            tag: tag_ok(),
            untag: untag_ok(),
        }
    }

    pub fn put(&self) -> &Rule {
        &self.secrets[3]
    }

    pub fn rotator(&self, list: &Rule, create: &Rule) -> Mocked {
        self.rotator_with_tag(&self.tag, list, create)
    }

    /// With another TagUser rule than the one that succeeds.
    pub fn rotator_with_tag(&self, tag: &Rule, list: &Rule, create: &Rule) -> Mocked {
        let secrets: Vec<&Rule> = self.secrets.iter().collect();
        let iam = [&self.user, tag, &self.untag, list, create];
        rotator(&secrets, &iam, &[], RotationConfig::default())
    }
}
