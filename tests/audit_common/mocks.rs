//! Helpers of the audit's aws-smithy-mocks tests: mock clients per service and region, canned
//! KMS/IAM/STS answers, and an auditor over them with a fixed clock.

#![allow(dead_code, unused_imports)]

use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::verdict::Verdict;
use aws_key_rotation::audit::Auditor;
use aws_key_rotation::aws::{retry_config, AuditClients, ClientFactory};
use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
use aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput;
use aws_sdk_kms::operation::get_key_rotation_status::{
    GetKeyRotationStatusError, GetKeyRotationStatusOutput,
};
use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsOutput;
use aws_sdk_kms::operation::list_keys::{ListKeysError, ListKeysOutput};
use aws_sdk_kms::types::{
    ExpirationModelType, KeyListEntry, KeyManagerType, KeyMetadata, KeySpec, KeyState,
    MultiRegionConfiguration, MultiRegionKey, MultiRegionKeyType, OriginType,
};
use aws_sdk_sts::config::Credentials;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z
pub const DAY: i64 = 86_400;
pub const ACCOUNT: &str = "123456789012";

/// A retry partition of its own for every mock client: the SDK otherwise shares the retry quota
/// and the adaptive rate limiter of a service and region across the process, so one test's
/// throttling would slow the others.
pub fn partition(service: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("mock-{service}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A client of `$crate` answering from `$rules` (any order), with the audit's retry settings
/// (or `$retry`), a 1 ms initial backoff and the system clock.
macro_rules! mock_client {
    ($crate_:ident, $region:expr, $rules:expr) => {
        mock_client!(
            $crate_,
            $region,
            $rules,
            ::aws_key_rotation::aws::retry_config()
        )
    };
    ($crate_:ident, $region:expr, $rules:expr, $retry:expr) => {{
        let mut interceptor = ::aws_smithy_mocks::MockResponseInterceptor::new()
            .rule_mode(::aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $crate_::Client::from_conf(
            $crate_::Config::builder()
                .behavior_version($crate_::config::BehaviorVersion::latest())
                .region($crate_::config::Region::new($region.to_owned()))
                .credentials_provider(::aws_sdk_sts::config::Credentials::new(
                    "AKIDTEST",
                    "test-secret",
                    None,
                    None,
                    "test",
                ))
                .http_client(::aws_smithy_mocks::create_mock_http_client())
                .interceptor(interceptor)
                .retry_config($retry.with_initial_backoff(::std::time::Duration::from_millis(1)))
                .retry_partition($crate_::config::retry::RetryPartition::new(
                    $crate::audit_common::mocks::partition(stringify!($crate_)),
                ))
                .build(),
        )
    }};
}
pub(crate) use mock_client;

pub fn kms_error_meta(code: &str) -> aws_sdk_kms::error::ErrorMetadata {
    aws_sdk_kms::error::ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} from the mock"))
        .build()
}

pub fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

/// DescribeKey metadata of a key in us-east-1.
pub fn meta(
    id: &str,
    manager: KeyManagerType,
    spec: &str,
    origin: OriginType,
    state: KeyState,
) -> KeyMetadata {
    KeyMetadata::builder()
        .key_id(id)
        .arn(arn("us-east-1", id))
        .aws_account_id(ACCOUNT)
        .key_manager(manager)
        .key_spec(KeySpec::from(spec))
        .origin(origin)
        .key_state(state)
        .build()
        .unwrap()
}

pub fn sym(id: &str, state: KeyState) -> KeyMetadata {
    meta(
        id,
        KeyManagerType::Customer,
        "SYMMETRIC_DEFAULT",
        OriginType::AwsKms,
        state,
    )
}

pub fn list_keys_rule(ids: &[&str]) -> Rule {
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    mock!(aws_sdk_kms::Client::list_keys).then_output(move || {
        ListKeysOutput::builder()
            .set_keys(Some(
                ids.iter()
                    .map(|id| {
                        KeyListEntry::builder()
                            .key_id(id)
                            .key_arn(arn("us-east-1", id))
                            .build()
                    })
                    .collect(),
            ))
            .truncated(false)
            .build()
    })
}

pub fn describe_rule(m: KeyMetadata) -> Rule {
    let id = m.key_id().to_owned();
    mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |r| r.key_id() == Some(id.as_str()))
        .then_output(move || DescribeKeyOutput::builder().key_metadata(m.clone()).build())
}

pub fn status_rule(id: &str, enabled: bool, period: Option<i32>, next: Option<i64>) -> Rule {
    let id = id.to_owned();
    let matched = id.clone();
    mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(move |r| r.key_id() == Some(matched.as_str()))
        .then_output(move || {
            GetKeyRotationStatusOutput::builder()
                .key_id(&id)
                .key_rotation_enabled(enabled)
                .set_rotation_period_in_days(period)
                .set_next_rotation_date(next.map(DateTime::from_secs))
                .build()
        })
}

pub fn status_error_rule(id: &str, code: &'static str) -> Rule {
    let id = id.to_owned();
    mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(move |r| r.key_id() == Some(id.as_str()))
        .then_error(move || match code {
            "UnsupportedOperationException" => {
                GetKeyRotationStatusError::UnsupportedOperationException(
                    aws_sdk_kms::types::error::UnsupportedOperationException::builder()
                        .message("not supported")
                        .meta(kms_error_meta(code))
                        .build(),
                )
            }
            "KMSInvalidStateException" => GetKeyRotationStatusError::KmsInvalidStateException(
                aws_sdk_kms::types::error::KmsInvalidStateException::builder()
                    .message("invalid state")
                    .meta(kms_error_meta(code))
                    .build(),
            ),
            other => GetKeyRotationStatusError::generic(kms_error_meta(other)),
        })
}

pub fn no_rotations_rule() -> Rule {
    mock!(aws_sdk_kms::Client::list_key_rotations)
        .then_output(|| ListKeyRotationsOutput::builder().truncated(false).build())
}

/// IAM with no user and no root key.
pub fn quiet_iam_rules() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_iam::Client::list_users).then_output(|| {
            aws_sdk_iam::operation::list_users::ListUsersOutput::builder()
                .set_users(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::get_account_summary).then_output(|| {
            aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput::builder().build()
        }),
    ]
}

pub fn sts_rules() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
                .arn(format!("arn:aws:iam::{ACCOUNT}:user/audit"))
                .account(ACCOUNT)
                .build()
        }),
    ]
}

/// Rules per service for one region.
#[derive(Default)]
pub struct RegionRules {
    pub kms: Vec<Rule>,
    pub iam: Vec<Rule>,
    pub secrets: Vec<Rule>,
    pub securityhub: Vec<Rule>,
}

/// Answers for the calls a test does not care about, after its own rules: no secrets, no tags on
/// a key, a user without tags (so no exemption).
fn fallback_rules() -> (Vec<Rule>, Vec<Rule>, Vec<Rule>) {
    let kms = vec![
        mock!(aws_sdk_kms::Client::list_resource_tags).then_output(|| {
            aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput::builder().build()
        }),
    ];
    let iam = vec![mock!(aws_sdk_iam::Client::get_user).then_output(|| {
        aws_sdk_iam::operation::get_user::GetUserOutput::builder()
            .user(
                aws_sdk_iam::types::User::builder()
                    .user_name("untagged")
                    .path("/")
                    .user_id("AIDAUNTAGGED")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:user/untagged"))
                    .create_date(DateTime::from_secs(NOW - 900 * DAY))
                    .build()
                    .unwrap(),
            )
            .build()
    })];
    let secrets = vec![
        mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
            aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder().build()
        }),
    ];
    (kms, iam, secrets)
}

pub fn clients(region: &str, rules: &RegionRules) -> AuditClients {
    let (kms, iam, secrets) = fallback_rules();
    AuditClients {
        kms: mock_client!(aws_sdk_kms, region, rules.kms.iter().chain(kms.iter())),
        iam: mock_client!(aws_sdk_iam, region, rules.iam.iter().chain(iam.iter())),
        secrets: mock_client!(
            aws_sdk_secretsmanager,
            region,
            rules.secrets.iter().chain(secrets.iter())
        ),
        securityhub: mock_client!(aws_sdk_securityhub, region, rules.securityhub.iter()),
    }
}

pub fn config(pairs: &[(&str, &str)]) -> AuditConfig {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AuditConfig::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .unwrap()
}

pub type Emitted = Arc<Mutex<Vec<Value>>>;

/// An auditor over mock clients per region, judging at `now`.
pub fn auditor(
    config: AuditConfig,
    regions: Vec<(&str, RegionRules)>,
    sts: Vec<Rule>,
    now: i64,
) -> (Auditor, Emitted) {
    let by_region: HashMap<String, AuditClients> = regions
        .iter()
        .map(|(r, rules)| (r.to_string(), clients(r, rules)))
        .collect();
    let factory: ClientFactory = Arc::new(move |scope| {
        by_region
            .get(scope.region)
            .cloned()
            .unwrap_or_else(|| panic!("no mock clients for {}", scope.region))
    });
    let sts = mock_client!(aws_sdk_sts, "us-east-1", sts.iter());
    let emitted: Emitted = Arc::default();
    let sink = emitted.clone();
    let auditor = Auditor::with_factory(config, Some(regions[0].0.to_owned()), sts, factory)
        .with_clock(Arc::new(move || now))
        .with_metrics_sink(Arc::new(move |d| sink.lock().unwrap().push(d.clone())));
    (auditor, emitted)
}

pub fn scheduled() -> Value {
    json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": ACCOUNT, "time": "2027-01-15T08:00:00Z", "region": "us-east-1", "resources": [], "detail": {}})
}

pub fn key_finding<'a>(report: &'a Report, id: &str) -> &'a Finding {
    let found: Vec<&Finding> = report
        .findings_of(Kind::KmsKey)
        .filter(|f| f.kms.as_ref().is_some_and(|k| k.key_id == id))
        .collect();
    assert_eq!(found.len(), 1, "{id}: {found:#?}");
    found[0]
}
