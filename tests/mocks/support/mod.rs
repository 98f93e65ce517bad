//! Every aws-smithy-mocks rule and mock client of the tests: the plumbing and the IAM answers
//! both sides use here, the audit's rules in `audit`, the rotator's in `rotation`.

pub mod audit;
pub mod rotation;

use crate::common::ACCOUNT;
use aws_smithy_types::DateTime;
use std::sync::atomic::{AtomicU64, Ordering};

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
                    $crate::support::partition(stringify!($crate_)),
                ))
                .build(),
        )
    }};
}
pub(crate) use mock_client;

/// An IAM user made at `created` (epoch seconds), bound to `secret` when given (the user tag
/// `KeyRotationSecret`).
pub fn iam_user(name: &str, created: i64, secret: Option<&str>) -> aws_sdk_iam::types::User {
    let tags: Vec<(&str, String)> = secret
        .map(|s| (aws_key_rotation::binding::BINDING_TAG, s.to_owned()))
        .into_iter()
        .collect();
    iam_user_tagged(name, created, &tags)
}

/// An IAM user made at `created` (epoch seconds) with these tags.
pub fn iam_user_tagged(
    name: &str,
    created: i64,
    tags: &[(&str, String)],
) -> aws_sdk_iam::types::User {
    let tags = (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(*k)
                    .value(v)
                    .build()
                    .unwrap()
            })
            .collect()
    });
    aws_sdk_iam::types::User::builder()
        .user_name(name)
        .path("/")
        .user_id(format!("AIDA{}", name.to_ascii_uppercase()))
        .arn(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
        .create_date(DateTime::from_secs(created))
        .set_tags(tags)
        .build()
        .unwrap()
}

/// The metadata ListAccessKeys gives of `user`'s key `id`, made at `created` when given.
pub fn access_key(
    user: &str,
    id: &str,
    status: aws_sdk_iam::types::StatusType,
    created: Option<i64>,
) -> aws_sdk_iam::types::AccessKeyMetadata {
    aws_sdk_iam::types::AccessKeyMetadata::builder()
        .user_name(user)
        .access_key_id(id)
        .status(status)
        .set_create_date(created.map(DateTime::from_secs))
        .build()
}

/// Captures this thread's logs, as text, at TRACE with the functions' filter (the most verbose
/// the Lambda can be set to), until the guard is dropped.
pub fn logs_at_trace() -> (
    crate::common::capture::Captured,
    lambda_runtime::tracing::dispatcher::DefaultGuard,
) {
    let logs = crate::common::capture::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(aws_key_rotation::logging::filter_for(Some("trace")))
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}
