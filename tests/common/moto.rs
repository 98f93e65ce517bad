//! SDK configs and clients signed for moto, and the seeding calls both sides' tests make.

use super::env;
use super::{secret_tag, ACCOUNT};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

pub fn admin_credentials() -> Credentials {
    let (id, secret) = env::admin_key();
    Credentials::new(id, secret, None, None, "moto-admin")
}

/// An SDK config for `endpoint` in `region`, signed with `credentials`.
pub fn sdk_config_at(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .retry_config(aws_config::retry::RetryConfig::standard())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("tokio sleep"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

/// An SDK config for moto in `region`, signed with `credentials`.
pub fn sdk_config_with(region: &str, credentials: Credentials) -> SdkConfig {
    sdk_config_at(&env::moto_endpoint(), region, credentials)
}

/// An SDK config for moto in `region`, signed by the admin.
pub fn sdk_config(region: &str) -> SdkConfig {
    sdk_config_with(region, admin_credentials())
}

pub fn kms(region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(region))
}

pub fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config("us-east-1"))
}

pub fn secrets(region: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(region))
}

/// Credentials of the cross-account role (account 111111111111).
pub async fn cross_account_credentials() -> Credentials {
    assumed(&env::cross_account_role(), "audit-test-seed").await
}

/// Credentials of `role_arn`, assumed by moto's admin.
pub async fn assumed(role_arn: &str, session: &str) -> Credentials {
    let sts = aws_sdk_sts::Client::new(&sdk_config("us-east-1"));
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session)
        .send()
        .await
        .unwrap_or_else(|e| panic!("assume {role_arn}: {e}"));
    let c = out.credentials().expect("credentials");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "moto-assumed",
    )
}

/// A KMS client in `region` of a member account of moto's Organization, through its audit role.
pub async fn member_kms(member: &str, region: &str) -> aws_sdk_kms::Client {
    let role = format!("arn:aws:iam::{member}:role/{}", env::org_role_name());
    aws_sdk_kms::Client::new(&sdk_config_with(region, assumed(&role, "seed").await))
}

/// Creates a secret with `tags`; returns its ARN.
pub async fn create_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
    tags: &[(&str, &str)],
) -> String {
    let mut req = sm.create_secret().name(name).secret_string(value);
    for (k, v) in tags {
        req = req.tags(secret_tag(k, v));
    }
    req.send()
        .await
        .expect("CreateSecret")
        .arn()
        .expect("arn")
        .to_owned()
}

/// What Secrets Manager does before it calls createSecret: a version with `token`, stage
/// AWSPENDING, no value; rotation enabled every `days` days. On moto, RotateSecret with a Lambda
/// it does not know records exactly that, then answers ResourceNotFoundException (CONTRACT §6).
pub async fn rotate_towards_no_lambda(
    sm: &aws_sdk_secretsmanager::Client,
    secret: &str,
    token: Option<&str>,
    days: i64,
) {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    let region = sm.config().region().map(|r| r.to_string()).unwrap();
    let result = sm
        .rotate_secret()
        .secret_id(secret)
        .set_client_request_token(token.map(str::to_owned))
        .rotation_lambda_arn(format!(
            "arn:aws:lambda:{region}:{ACCOUNT}:function:not-deployed"
        ))
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(days)
                .build(),
        )
        .send()
        .await;
    if let Err(e) = result {
        assert_eq!(
            e.code(),
            Some("ResourceNotFoundException"),
            "RotateSecret: {e:?}"
        );
    }
}

/// Binds `user` to a secret (the IAM user tag `KeyRotationSecret`), as an IAM administrator
/// does; `secret` is an ARN, or a name in the same account.
pub async fn bind(iam: &aws_sdk_iam::Client, user: &str, secret: &str) {
    tag_user(iam, user, aws_key_rotation::binding::BINDING_TAG, secret).await
}

/// Sets one tag of `user`, as an IAM administrator does.
pub async fn tag_user(iam: &aws_sdk_iam::Client, user: &str, key: &str, value: &str) {
    iam.tag_user()
        .user_name(user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TagUser");
}

pub async fn create_user(iam: &aws_sdk_iam::Client, name: &str) {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("CreateUser");
}

/// Creates a user with `n` access keys; returns their ids.
pub async fn user_with_keys(iam: &aws_sdk_iam::Client, user: &str, n: usize) -> Vec<String> {
    create_user(iam, user).await;
    let mut ids = Vec::new();
    for _ in 0..n {
        let out = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .expect("CreateAccessKey");
        ids.push(out.access_key().expect("key").access_key_id().to_owned());
    }
    ids
}

pub async fn deactivate(iam: &aws_sdk_iam::Client, user: &str, key: &str) {
    iam.update_access_key()
        .user_name(user)
        .access_key_id(key)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .expect("UpdateAccessKey");
}

/// Each key's status (`Active`, `Inactive`), by key id.
pub async fn key_status(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> std::collections::BTreeMap<String, String> {
    let out = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("ListAccessKeys");
    out.access_key_metadata()
        .iter()
        .filter_map(|k| {
            Some((
                k.access_key_id()?.to_owned(),
                k.status()?.as_str().to_owned(),
            ))
        })
        .collect()
}

/// The user's key ids, sorted.
pub async fn key_ids_of(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    key_status(iam, user).await.into_keys().collect()
}

/// The user's tags, sorted by key (none if the user is gone).
pub async fn user_tags(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .map(|o| {
            o.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

/// An IAM client of a member account of moto's Organization, through its audit role.
pub async fn member_iam(member: &str) -> aws_sdk_iam::Client {
    let role = format!("arn:aws:iam::{member}:role/{}", env::org_role_name());
    aws_sdk_iam::Client::new(&sdk_config_with("us-east-1", assumed(&role, "seed").await))
}

/// A Secrets Manager client in `region` of a member account of moto's Organization.
pub async fn member_secrets(member: &str, region: &str) -> aws_sdk_secretsmanager::Client {
    let role = format!("arn:aws:iam::{member}:role/{}", env::org_role_name());
    aws_sdk_secretsmanager::Client::new(&sdk_config_with(region, assumed(&role, "seed").await))
}
