//! Helpers of the audit's moto tests: clients signed with the admin key `scripts/with-moto.sh`
//! exports, unique names, and an auditor whose clock and metrics the test controls.

#![allow(dead_code)]

pub mod mocks;

#[path = "../support/clock.rs"]
pub mod clock;
#[path = "../support/notifications.rs"]
pub mod notifications;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::Auditor;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType};
use aws_sdk_sts::config::Credentials;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const DAY: i64 = 86_400;

pub struct Moto {
    pub endpoint: String,
    pub key: String,
    pub secret: String,
    pub cross_account_role: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the moto tests through scripts/with-moto.sh, e.g. scripts/with-moto.sh cargo test --test audit_moto")
    })
}

pub fn moto() -> Moto {
    Moto {
        endpoint: var("MOTO_ENDPOINT"),
        key: var("MOTO_ADMIN_ACCESS_KEY_ID"),
        secret: var("MOTO_ADMIN_SECRET_ACCESS_KEY"),
        cross_account_role: var("MOTO_CROSS_ACCOUNT_ROLE_ARN"),
    }
}

/// An SDK config for moto, signed by the admin (or by `credentials`).
pub async fn sdk_config_with(region: &str, credentials: Option<Credentials>) -> SdkConfig {
    let m = moto();
    let credentials =
        credentials.unwrap_or_else(|| Credentials::new(m.key, m.secret, None, None, "moto-admin"));
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(m.endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

pub async fn sdk_config(region: &str) -> SdkConfig {
    sdk_config_with(region, None).await
}

pub async fn kms(region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(region).await)
}

pub async fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config("us-east-1").await)
}

pub async fn secrets(region: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(region).await)
}

/// Credentials of the cross-account role (account 111111111111).
pub async fn cross_account_credentials() -> Credentials {
    let sts = aws_sdk_sts::Client::new(&sdk_config("us-east-1").await);
    let out = sts
        .assume_role()
        .role_arn(moto().cross_account_role)
        .role_session_name("audit-test-seed")
        .send()
        .await
        .expect("assume the cross-account role");
    let c = out.credentials().expect("credentials");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "moto-cross-account",
    )
}

/// A name no other test (or run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn now() -> i64 {
    aws_key_rotation::time::now_secs()
}

/// An audit configuration from `VAR=value` pairs, as the Lambda would read it.
pub fn config(pairs: &[(&str, &str)]) -> AuditConfig {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AuditConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .expect("valid config")
}

/// The EMF documents an auditor printed.
pub type Emitted = Arc<Mutex<Vec<Value>>>;

/// An auditor as the Lambda builds it (home region `home`), judging at now + `days_ahead`.
pub async fn auditor_at(config: AuditConfig, home: &str, days_ahead: i64) -> (Auditor, Emitted) {
    let emitted: Emitted = Arc::default();
    let sink = emitted.clone();
    let auditor = Auditor::new(&sdk_config(home).await, config)
        .with_clock(Arc::new(move || now() + days_ahead * DAY))
        .with_metrics_sink(Arc::new(move |doc| sink.lock().unwrap().push(doc.clone())));
    (auditor, emitted)
}

pub fn scheduled_event() -> Value {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-11-22T09:00:00Z",
        "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/key-audit"], "detail": {}
    })
}

pub fn cloudtrail_event(
    source: &str,
    event_name: &str,
    region: &str,
    account: &str,
    request: Value,
    response: Value,
) -> Value {
    json!({
        "version": "0", "id": "36eb8523-97d0-4518-b33d-ee3579ff19f0", "detail-type": "AWS API Call via CloudTrail",
        "source": source, "account": account, "time": "2026-11-22T09:00:00Z", "region": region, "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "userName": "admin", "accountId": account},
            "eventTime": "2026-11-22T09:00:00Z",
            "eventSource": format!("{}.amazonaws.com", source.trim_start_matches("aws.")),
            "eventName": event_name, "awsRegion": region, "sourceIPAddress": "192.0.2.1", "userAgent": "test",
            "requestParameters": request, "responseElements": response,
            "requestID": "a", "eventID": "b", "eventType": "AwsApiCall", "recipientAccountId": account
        }
    })
}

/// A key as the test wants it.
#[derive(Clone, Copy)]
pub struct KeySpecOf {
    pub spec: &'static str,
    pub usage: &'static str,
    pub external: bool,
    pub multi_region: bool,
}

pub const SYMMETRIC: KeySpecOf = KeySpecOf {
    spec: "SYMMETRIC_DEFAULT",
    usage: "ENCRYPT_DECRYPT",
    external: false,
    multi_region: false,
};

/// Creates a key; returns (key id, key ARN).
pub async fn create_key(kms: &aws_sdk_kms::Client, k: KeySpecOf) -> (String, String) {
    let mut req = kms
        .create_key()
        .key_spec(KeySpec::from(k.spec))
        .key_usage(KeyUsageType::from(k.usage))
        .description("audit test key");
    if k.external {
        req = req.origin(OriginType::External);
    }
    if k.multi_region {
        req = req.multi_region(true);
    }
    let out = req.send().await.expect("CreateKey");
    let m = out.key_metadata().expect("metadata");
    (m.key_id().to_owned(), m.arn().expect("arn").to_owned())
}

pub async fn enable_rotation(kms: &aws_sdk_kms::Client, key_id: &str) {
    kms.enable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
}

pub async fn rotation_enabled(kms: &aws_sdk_kms::Client, key_id: &str) -> bool {
    kms.get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus")
        .key_rotation_enabled()
}

/// Creates a user with `n` access keys; returns their ids.
pub async fn user_with_keys(iam: &aws_sdk_iam::Client, user: &str, n: usize) -> Vec<String> {
    iam.create_user()
        .user_name(user)
        .send()
        .await
        .expect("CreateUser");
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

pub async fn key_ids_of(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let out = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("ListAccessKeys");
    let mut ids: Vec<String> = out
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The keys a rotation secret holds.
#[derive(Clone, Copy, Default)]
pub struct Held<'a> {
    /// The `KeyRotationUserName` tag (`None`: not set).
    pub user: Option<&'a str>,
    pub current: Option<&'a str>,
    pub previous: Option<&'a str>,
}

/// Stores a rotation secret as the rotator leaves it after a rotation (its value and the key-id
/// tags), tagged `RotationType=iam-access-key`; returns its ARN.
pub async fn rotation_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    held: Held<'_>,
) -> String {
    use aws_key_rotation::binding::{CURRENT_KEY_TAG, PREVIOUS_KEY_TAG, USER_TAG};
    let value = json!({"UserName": held.user, "AccessKeyId": held.current,
                       "SecretAccessKey": "never-logged", "PreviousAccessKeyId": held.previous});
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    let mut req = sm
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .tags(tag("RotationType", "iam-access-key"));
    for (key, value) in [
        (USER_TAG, held.user),
        (CURRENT_KEY_TAG, held.current),
        (PREVIOUS_KEY_TAG, held.previous),
    ] {
        if let Some(v) = value {
            req = req.tags(tag(key, v));
        }
    }
    req.send()
        .await
        .expect("CreateSecret")
        .arn()
        .expect("arn")
        .to_owned()
}

/// Each key's status, by key id.
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

/// The user's tags.
pub async fn user_tag_map(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> std::collections::BTreeMap<String, String> {
    let out = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .expect("ListUserTags");
    out.tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// Binds `user` to a secret (the IAM user tag `KeyRotationSecret`), as an IAM administrator does.
pub async fn bind(iam: &aws_sdk_iam::Client, user: &str, secret: &str) {
    iam.tag_user()
        .user_name(user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(aws_key_rotation::binding::BINDING_TAG)
                .value(secret)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TagUser");
}

/// The single finding for `resource`, failing if there is none or more than one.
pub fn the_finding<'a>(report: &'a Report, kind: Kind, resource: &str) -> &'a Finding {
    let found: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| {
            f.kind == kind
                && (f.resource == resource || f.kms.as_ref().is_some_and(|k| k.key_id == resource))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one finding for {resource}, got {found:#?}"
    );
    found[0]
}

/// The summary must count exactly the findings listed.
pub fn assert_summary_consistent(report: &Report) {
    use aws_key_rotation::audit::verdict::Verdict;
    for v in Verdict::ALL {
        let n = report.findings.iter().filter(|f| f.verdict == v).count();
        assert_eq!(report.summary.get(v), n, "{v:?}");
    }
}
