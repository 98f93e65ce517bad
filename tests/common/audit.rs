//! The audit side's fixtures on moto: auditors with a clock set ahead, the events that trigger
//! them, KMS keys of every class, rotation secrets as the rotator leaves them, and lookups in a
//! report.

use super::moto::{create_secret, sdk_config};
use super::{keep_in, Emitted, ACCOUNT, DAY};
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::Auditor;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType};
use serde_json::{json, Value};
use std::sync::Arc;

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

/// An auditor as the Lambda builds it (home region `home`), judging at now + `days_ahead`.
pub fn auditor_at(config: AuditConfig, home: &str, days_ahead: i64) -> (Auditor, Emitted) {
    let emitted: Emitted = Arc::default();
    let auditor = Auditor::new(
        aws_key_rotation::aws::AuditAws::new(&sdk_config(home)),
        config,
    )
    .with_clock(Arc::new(move || now() + days_ahead * DAY))
    .with_metrics_sink(keep_in(&emitted));
    (auditor, emitted)
}

pub fn scheduled_event() -> Value {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT, "time": "2026-11-22T09:00:00Z",
        "region": "us-east-1", "resources": [format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/key-audit")], "detail": {}
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

/// Symmetric, with imported key material (origin EXTERNAL).
pub const IMPORTED: KeySpecOf = KeySpecOf {
    external: true,
    ..SYMMETRIC
};

/// Symmetric, the primary of a multi-Region key.
pub const MULTI_REGION: KeySpecOf = KeySpecOf {
    multi_region: true,
    ..SYMMETRIC
};

/// A key of another spec and usage (asymmetric, HMAC).
pub const fn key_of(spec: &'static str, usage: &'static str) -> KeySpecOf {
    KeySpecOf {
        spec,
        usage,
        ..SYMMETRIC
    }
}

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

/// The keys a rotation secret holds.
#[derive(Clone, Copy, Default)]
pub struct Held<'a> {
    /// The `KeyRotationUserName` tag (`None`: not set).
    pub user: Option<&'a str>,
    pub current: Option<&'a str>,
    pub previous: Option<&'a str>,
}

impl<'a> Held<'a> {
    /// `user`'s secret, holding `current`, which replaced `previous`.
    pub fn of(user: &'a str, current: &'a str, previous: Option<&'a str>) -> Self {
        Held {
            user: Some(user),
            current: Some(current),
            previous,
        }
    }
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
    let mut tags = vec![("RotationType", "iam-access-key")];
    for (key, value) in [
        (USER_TAG, held.user),
        (CURRENT_KEY_TAG, held.current),
        (PREVIOUS_KEY_TAG, held.previous),
    ] {
        tags.extend(value.map(|v| (key, v)));
    }
    create_secret(sm, name, &value.to_string(), &tags).await
}

/// The single finding for `resource`, failing if there is none or more than one.
/// A full audit of `region` that sweeps (`SWEEP=true`, and `settings`), `days_ahead` on.
pub async fn sweep_at(region: &str, days_ahead: i64, settings: &[(&str, &str)]) -> Report {
    let mut all = vec![("AUDIT_REGIONS", region), ("SWEEP", "true")];
    all.extend_from_slice(settings);
    let (auditor, _) = auditor_at(config(&all), region, days_ahead);
    auditor.handle(scheduled_event()).await.unwrap()
}

/// The finding of the access key `key`, which the sweep has deactivated (UpdateAccessKey).
pub fn deactivated_by_the_sweep<'a>(report: &'a Report, key: &str) -> &'a Finding {
    let f = the_finding(report, Kind::IamAccessKey, key);
    assert!(
        f.action
            .as_ref()
            .is_some_and(|a| a.action == "UpdateAccessKey" && a.succeeded),
        "{f:#?}"
    );
    f
}

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

/// Records `keys` on `user` as the keys the rotator created for its binding to `secret` (the user
/// tag `KeyRotationOwnKeys`, which the rotator writes after CreateAccessKey): only these are
/// ever retired by the sweep.
pub async fn record_own_keys(iam: &aws_sdk_iam::Client, user: &str, secret: &str, keys: &[&str]) {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    iam.tag_user()
        .user_name(user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(aws_key_rotation::binding::OWN_KEYS_TAG)
                .value(aws_key_rotation::binding::own_keys_value(secret, &keys))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("TagUser");
}

/// A rotation secret as an operator leaves it before its first rotation finished: tagged
/// `RotationType=iam-access-key`, rotation on, no key-id tags (an "untracked" secret; anyone who
/// can create a secret can make one). Returns its ARN.
pub async fn untracked_rotation_secret(sm: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    let arn = create_secret(sm, name, "{}", &[("RotationType", "iam-access-key")]).await;
    // Rotation on (RotateSecret towards a Lambda moto does not know), then the attempt's
    // AWSPENDING removed, as an operator cancelling it would.
    super::moto::rotate_towards_no_lambda(sm, &arn, None, 30).await;
    let versions = sm
        .list_secret_version_ids()
        .secret_id(&arn)
        .send()
        .await
        .expect("ListSecretVersionIds");
    for v in versions.versions() {
        let stages = v.version_stages();
        if stages.iter().any(|s| s == "AWSPENDING") && !stages.iter().any(|s| s == "AWSCURRENT") {
            sm.update_secret_version_stage()
                .secret_id(&arn)
                .version_stage("AWSPENDING")
                .remove_from_version_id(v.version_id().unwrap())
                .send()
                .await
                .expect("UpdateSecretVersionStage");
        }
    }
    arn
}
