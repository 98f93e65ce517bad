//! aws-smithy-mocks rules of the audit's tests: canned KMS/IAM/STS answers, mock clients per
//! service and region, and an auditor over them with a fixed clock.

use super::{iam_user, mock_client};
use crate::common::{keep_in, Emitted, ACCOUNT, DAY};
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind, Report};
use aws_key_rotation::audit::Auditor;
use aws_key_rotation::aws::{AuditAws, ClientFactory, RegionClients};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::get_key_rotation_status::{
    GetKeyRotationStatusError, GetKeyRotationStatusOutput,
};
use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsOutput;
use aws_sdk_kms::operation::list_keys::ListKeysOutput;
use aws_sdk_kms::types::{
    KeyListEntry, KeyManagerType, KeyMetadata, KeySpec, KeyState, OriginType,
};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

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

/// A GetKeyLastUsage answer: tracked for 400 days, last used at `last` (None: no use recorded).
pub fn last_usage(
    last: Option<i64>,
) -> aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput {
    aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput::builder()
        .tracking_start_date(DateTime::from_secs(NOW - 400 * DAY))
        .key_creation_date(DateTime::from_secs(NOW - 900 * DAY))
        .set_key_last_usage(last.map(|t| {
            aws_sdk_kms::types::KeyLastUsageData::builder()
                .timestamp(DateTime::from_secs(t))
                .operation(aws_sdk_kms::types::KeyLastUsageTrackingOperation::Decrypt)
                .build()
        }))
        .build()
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
    vec![list_users_rule(Vec::new()), account_summary_rule(None)]
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

/// AssumeRole's answer: credentials with `access_key` (secret key `assumed-secret`).
pub fn assumed(access_key: &'static str) -> aws_sdk_sts::operation::assume_role::AssumeRoleOutput {
    aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
        .credentials(
            aws_sdk_sts::types::Credentials::builder()
                .access_key_id(access_key)
                .secret_access_key("assumed-secret")
                .session_token("token")
                .expiration(DateTime::from_secs(4_000_000_000))
                .build()
                .unwrap(),
        )
        .build()
}

/// AssumeRole refused (AccessDenied).
pub fn assume_denied() -> aws_sdk_sts::operation::assume_role::AssumeRoleError {
    aws_sdk_sts::operation::assume_role::AssumeRoleError::generic(
        aws_sdk_sts::error::ErrorMetadata::builder()
            .code("AccessDenied")
            .build(),
    )
}

/// STS: the function's identity; AssumeRole works for every role but `denied` (refused with
/// AccessDenied), and every role asked for is recorded in `asked`.
pub fn sts_recording(asked: &Arc<Mutex<Vec<String>>>, denied: Option<String>) -> Vec<Rule> {
    let record = asked.clone();
    let mut rules = sts_rules();
    rules.push(
        mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(move |r| {
                record
                    .lock()
                    .unwrap()
                    .push(r.role_arn().unwrap_or_default().to_owned());
                r.role_arn() != denied.as_deref()
            })
            .then_output(|| assumed("ASIAMEMBER")),
    );
    rules.push(mock!(aws_sdk_sts::Client::assume_role).then_error(assume_denied));
    rules
}

/// Rules per service for one region.
#[derive(Default)]
pub struct RegionRules {
    pub account: Vec<Rule>,
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
        // Used yesterday: nothing to say about the key's use.
        mock!(aws_sdk_kms::Client::get_key_last_usage).then_output(|| last_usage(Some(NOW - DAY))),
    ];
    let iam = vec![mock!(aws_sdk_iam::Client::get_user).then_output(|| {
        aws_sdk_iam::operation::get_user::GetUserOutput::builder()
            .user(iam_user("untagged", NOW - 900 * DAY, None))
            .build()
    })];
    let secrets = vec![
        mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
            aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder().build()
        }),
    ];
    (kms, iam, secrets)
}

pub fn clients(region: &str, rules: &RegionRules) -> RegionClients {
    let (kms, iam, secrets) = fallback_rules();
    RegionClients {
        account: mock_client!(aws_sdk_account, region, rules.account.iter()),
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

/// An auditor over mock clients per region, judging at `now`.
pub fn auditor(
    config: AuditConfig,
    regions: Vec<(&str, RegionRules)>,
    sts: Vec<Rule>,
    now: i64,
) -> (Auditor, Emitted) {
    let by_region: HashMap<String, RegionClients> = regions
        .iter()
        .map(|(r, rules)| (r.to_string(), clients(r, rules)))
        .collect();
    let factory: ClientFactory = Arc::new(move |scope| {
        by_region
            .get(scope.region)
            .cloned()
            .unwrap_or_else(|| panic!("no mock clients for {}", scope.region))
    });
    let emitted: Emitted = Arc::default();
    let auditor = with_factory(config, regions[0].0, sts.iter(), factory, now)
        .with_metrics_sink(keep_in(&emitted));
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

/// ListUsers answering `users` (one page).
pub fn list_users_rule(users: Vec<aws_sdk_iam::types::User>) -> Rule {
    mock!(aws_sdk_iam::Client::list_users).then_output(move || {
        aws_sdk_iam::operation::list_users::ListUsersOutput::builder()
            .set_users(Some(users.clone()))
            .build()
            .unwrap()
    })
}

/// ListAccessKeys of `user` answering `keys` (one page; every user when `user` is `None`).
pub fn list_access_keys_rule(
    user: Option<&'static str>,
    keys: Vec<aws_sdk_iam::types::AccessKeyMetadata>,
) -> Rule {
    mock!(aws_sdk_iam::Client::list_access_keys)
        .match_requests(move |r| user.is_none() || r.user_name() == user)
        .then_output(move || {
            aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(keys.clone()))
                .build()
                .unwrap()
        })
}

/// GetAccountSummary; `root_keys`: the root user's access keys (`None`: not reported).
pub fn account_summary_rule(root_keys: Option<i32>) -> Rule {
    mock!(aws_sdk_iam::Client::get_account_summary).then_output(move || {
        let mut out =
            aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput::builder();
        if let Some(n) = root_keys {
            out = out.summary_map(
                aws_sdk_iam::types::SummaryKeyType::AccountAccessKeysPresent,
                n,
            );
        }
        out.build()
    })
}

/// One symmetric key `id`, Enabled, in the listing, with its rotation off and never rotated.
pub fn rotation_off_key(id: &'static str) -> Vec<Rule> {
    vec![
        list_keys_rule(&[id]),
        describe_rule(sym(id, KeyState::Enabled)),
        status_rule(id, false, None, None),
        no_rotations_rule(),
    ]
}

/// The KMS rules of one region whose IAM has no user and no root key.
pub fn kms_only(kms: Vec<Rule>) -> RegionRules {
    RegionRules {
        kms,
        iam: quiet_iam_rules(),
        ..RegionRules::default()
    }
}

/// An auditor over us-east-1's `rules` alone, judging at [`NOW`].
pub fn auditor_in_us_east_1(config: AuditConfig, rules: RegionRules) -> (Auditor, Emitted) {
    auditor(config, vec![("us-east-1", rules)], sts_rules(), NOW)
}

/// An auditor whose clients come from `factory`, with STS answering from `sts`, judging at
/// `now`, metrics discarded.
pub fn with_factory<'a>(
    config: AuditConfig,
    home: &str,
    sts: impl IntoIterator<Item = &'a Rule>,
    factory: ClientFactory,
    now: i64,
) -> Auditor {
    Auditor::new(
        AuditAws::with_factory(
            Some(home.to_owned()),
            mock_client!(aws_sdk_sts, "us-east-1", sts),
            factory,
        ),
        config,
    )
    .with_clock(Arc::new(move || now))
    .with_metrics_sink(Arc::new(|_| {}))
}

/// `user` as GetUser answers it, bound to `secret` (`KeyRotationSecret`) with `own` recorded as
/// the keys the rotator created for that binding (`KeyRotationOwnKeys`).
pub fn bound_user(
    user: &str,
    created: i64,
    secret: &str,
    own: &[&str],
) -> aws_sdk_iam::types::User {
    let own: Vec<String> = own.iter().map(|k| k.to_string()).collect();
    let mut u = iam_user(user, created, Some(secret));
    u.tags.get_or_insert_with(Vec::new).push(
        aws_sdk_iam::types::Tag::builder()
            .key(aws_key_rotation::binding::OWN_KEYS_TAG)
            .value(aws_key_rotation::binding::own_keys_value(secret, &own))
            .build()
            .unwrap(),
    );
    u
}
