//! Secret values stay out of logs and reports; rotation secrets are read only when a key is old.
//!
//! A file of its own: it installs a log subscriber for its thread, and tracing caches per call
//! site whether anyone listens, which tests running alongside in the same process can race.

mod audit_common;

use audit_common::mocks::*;
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind};
use aws_key_rotation::audit::verdict::Verdict;
use aws_smithy_mocks::mock;
use aws_smithy_types::DateTime;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A writer the test subscriber logs into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_are_listed_never_read_and_never_logged() {
    const SECRET_VALUE: &str = "wJalrXUtnFEMI-NEVER-LOGGED";
    let key = |id: &str, user: &str, age_days: i64| {
        aws_sdk_iam::types::AccessKeyMetadata::builder()
            .user_name(user)
            .access_key_id(id)
            .status(aws_sdk_iam::types::StatusType::Active)
            .create_date(DateTime::from_secs(NOW - age_days * DAY))
            .build()
    };
    let user = |name: &str| {
        aws_sdk_iam::types::User::builder()
            .user_name(name)
            .path("/")
            .user_id(format!("AIDA{name}"))
            .arn(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
            .create_date(DateTime::from_secs(NOW - 900 * DAY))
            .build()
            .unwrap()
    };
    let (alice_key, bob_key) = (
        key("AKIAALICEOLD", "alice", 200),
        key("AKIABOBYOUNG", "bob", 1),
    );
    let iam = vec![
        mock!(aws_sdk_iam::Client::list_users).then_output(move || {
            aws_sdk_iam::operation::list_users::ListUsersOutput::builder()
                .users(user("alice"))
                .users(user("bob"))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::list_access_keys)
            .match_requests(|r| r.user_name() == Some("alice"))
            .then_output(move || {
                aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                    .access_key_metadata(alice_key.clone())
                    .build()
                    .unwrap()
            }),
        mock!(aws_sdk_iam::Client::list_access_keys)
            .match_requests(|r| r.user_name() == Some("bob"))
            .then_output(move || {
                aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                    .access_key_metadata(bob_key.clone())
                    .build()
                    .unwrap()
            }),
        mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
            aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder().build()
        }),
        mock!(aws_sdk_iam::Client::get_account_summary)
            .then_output(|| aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput::builder().build()),
    ];
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    let entry = |name: &str| {
        aws_sdk_secretsmanager::types::SecretListEntry::builder()
            .arn(format!(
                "arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}"
            ))
            .name(name)
    };
    let list = mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
        aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
            .secret_list(
                entry("alice-key")
                    .tags(tag("RotationType", "iam-access-key"))
                    .tags(tag("KeyRotationUserName", "alice"))
                    .tags(tag("KeyRotationAccessKeyId", "AKIAALICEOLD"))
                    .build(),
            )
            .secret_list(entry("db-password").build())
            .secret_list(entry("rotated-db").rotation_enabled(true).build())
            .build()
    });
    let alice_value = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id().is_some_and(|s| s.ends_with(":alice-key")) && r.version_stage() == Some("AWSCURRENT"))
        .then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string(
                    json!({"UserName": "alice", "AccessKeyId": "AKIAALICEOLD", "SecretAccessKey": SECRET_VALUE,
                           "CreateDate": "2026-06-29T08:00:00Z"})
                    .to_string(),
                )
                .build()
        });
    let rotated_db = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id().is_some_and(|s| s.ends_with(":rotated-db")))
        .then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string(format!("{{\"password\": \"{SECRET_VALUE}\"}}"))
                .build()
        });
    let db_password = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id().is_some_and(|s| s.ends_with(":db-password")))
        .then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string("not read")
                .build()
        });
    let rules = || RegionRules {
        kms: vec![list_keys_rule(&[])],
        iam: iam.clone(),
        secrets: vec![
            list.clone(),
            alice_value.clone(),
            rotated_db.clone(),
            db_password.clone(),
        ],
        ..RegionRules::default()
    };

    // While every key is young the secrets are listed (their rotation is audited too), none read.
    let (young, _) = auditor(
        AuditConfig::default(),
        vec![("us-east-1", rules())],
        sts_rules(),
        NOW - 199 * DAY,
    );
    let report = young.handle(scheduled()).await.unwrap();
    assert!(report
        .findings_of(Kind::IamAccessKey)
        .all(|f| f.verdict == Verdict::Compliant));
    // Every key names the secret that manages it, young or old.
    let managed: Vec<Option<&str>> = report
        .findings_of(Kind::IamAccessKey)
        .map(|f| f.managed_by())
        .collect();
    assert!(
        managed.contains(&Some(
            format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:alice-key").as_str()
        )),
        "{managed:?}"
    );
    assert_eq!((list.num_calls(), alice_value.num_calls()), (1, 0));

    // Alice's key is old: the rotation secrets are listed (their tags name the keys); no secret
    // value is read, not even of the secrets whose values would name a key.
    let logs = Captured::default();
    let writer = logs.clone();
    // The most verbose level the Lambda can be set to, with its filter.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(aws_key_rotation::logging::filter_for(Some("trace")))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (auditor, _) = auditor(
        AuditConfig::default(),
        vec![("us-east-1", rules())],
        sts_rules(),
        NOW,
    );
    let report = auditor.handle(scheduled()).await.unwrap();
    drop(_guard);

    let alice: Vec<&Finding> = report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.user() == Some("alice"))
        .collect();
    assert_eq!(alice[0].verdict, Verdict::NonCompliant);
    assert_eq!(
        alice[0].managed_by(),
        Some(format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:alice-key").as_str())
    );
    let bob: Vec<&Finding> = report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.user() == Some("bob"))
        .collect();
    assert_eq!(
        (bob[0].verdict, bob[0].managed_by()),
        (Verdict::Compliant, None)
    );
    assert_eq!(list.num_calls(), 2);
    assert_eq!(
        (
            alice_value.num_calls(),
            rotated_db.num_calls(),
            db_password.num_calls()
        ),
        (0, 0, 0)
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let non_compliant_lines = logs
        .lines()
        .filter(|l| l.contains("non-compliant") && l.contains("resource="))
        .count();
    assert_eq!(non_compliant_lines, report.summary.non_compliant, "{logs}");
    assert!(logs.contains("resource=AKIAALICEOLD"), "{logs}");
    assert!(
        logs.contains("COMPLIANT"),
        "the summary table is logged: {logs}"
    );
    for text in [
        logs,
        serde_json::to_string(&report).unwrap(),
        format!("{report:?}"),
    ] {
        assert!(
            !text.contains(SECRET_VALUE),
            "a secret value leaked: {text}"
        );
    }
}
