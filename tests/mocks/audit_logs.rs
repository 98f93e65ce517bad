//! Secret values stay out of logs and reports; rotation secrets are read only when a key is old.
//!
//! Each test installs a log subscriber for its thread, and tracing caches per call site whether
//! anyone listens, which tests running alongside in the same process could race: nextest runs
//! every test in a process of its own (`cargo test` would not).

use crate::common::capture::Captured;
use crate::common::*;
use crate::support::audit::*;
use crate::support::*;
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind};
use aws_key_rotation::audit::verdict::Verdict;
use aws_sdk_iam::types::StatusType;
use aws_smithy_mocks::mock;
use serde_json::json;

#[tokio::test]
async fn secrets_are_listed_never_read_and_never_logged() {
    const SECRET_VALUE: &str = "wJalrXUtnFEMI-NEVER-LOGGED";
    let key = |id: &str, user: &str, age_days: i64| {
        access_key(user, id, StatusType::Active, Some(NOW - age_days * DAY))
    };
    let iam = vec![
        list_users_rule(vec![
            iam_user("alice", NOW - 900 * DAY, None),
            iam_user("bob", NOW - 900 * DAY, None),
        ]),
        list_access_keys_rule(Some("alice"), vec![key("AKIAALICEOLD", "alice", 200)]),
        list_access_keys_rule(Some("bob"), vec![key("AKIABOBYOUNG", "bob", 1)]),
        mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
            aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder().build()
        }),
        account_summary_rule(None),
    ];
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
                    .tags(secret_tag("RotationType", "iam-access-key"))
                    .tags(secret_tag("KeyRotationUserName", "alice"))
                    .tags(secret_tag("KeyRotationAccessKeyId", "AKIAALICEOLD"))
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
    // The most verbose level the Lambda can be set to, with its filter.
    let (logs, _guard) = crate::support::logs_at_trace();
    let (auditor, _) = auditor_in_us_east_1(AuditConfig::default(), rules());
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

    let logs = logs.text();
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

/// Key-id tags on a secret the key's user is not bound to are a claim: the sweep goes on as if
/// they were not there, and says so in the finding and in one WARN line naming the secret and
/// the key (whoever wrote the tag is who the reader needs to find).
#[tokio::test]
async fn a_claim_by_a_secret_the_user_is_not_bound_to_is_logged_and_changes_nothing() {
    use aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput;
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice-AbCdEf";
    const FORGED: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mallory-XyZ123";
    let key = |id: &str, status: StatusType, days_ago: i64| {
        access_key("alice", id, status, Some(NOW - days_ago * DAY))
    };
    let user = || bound_user("alice", NOW - 900 * DAY, SECRET, &["AKIAOLD", "AKIANEW"]);
    let delete = mock!(aws_sdk_iam::Client::delete_access_key).then_output(|| {
        aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder().build()
    });
    let entry = |arn: &str, tags: &[(&str, &str)]| {
        let mut e = aws_sdk_secretsmanager::types::SecretListEntry::builder()
            .arn(arn)
            .name(arn.rsplit(':').next().unwrap())
            .rotation_enabled(true);
        for (k, v) in tags {
            e = e.tags(secret_tag(k, v));
        }
        e.build()
    };
    let rules = RegionRules {
        kms: vec![list_keys_rule(&[])],
        iam: vec![
            list_users_rule(vec![user()]),
            mock!(aws_sdk_iam::Client::get_user).then_output(move || {
                aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                    .user(user())
                    .build()
            }),
            list_access_keys_rule(
                Some("alice"),
                vec![
                    key("AKIAOLD", StatusType::Inactive, 400),
                    key("AKIANEW", StatusType::Active, 30),
                ],
            ),
            mock!(aws_sdk_iam::Client::get_access_key_last_used)
                .then_output(|| GetAccessKeyLastUsedOutput::builder().build()),
            delete.clone(),
            account_summary_rule(None),
        ],
        secrets: vec![
            mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
                aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                    .secret_list(entry(
                        SECRET,
                        &[
                            ("RotationType", "iam-access-key"),
                            ("KeyRotationUserName", "alice"),
                            ("KeyRotationAccessKeyId", "AKIANEW"),
                            ("KeyRotationPreviousAccessKeyId", "AKIAOLD"),
                        ],
                    ))
                    // Anyone who can tag a secret: alice's replaced key named as its current.
                    .secret_list(entry(FORGED, &[("KeyRotationAccessKeyId", "AKIAOLD")]))
                    .build()
            }),
        ],
        ..RegionRules::default()
    };
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(aws_key_rotation::logging::filter_for(Some("info")))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let cfg = crate::common::audit::config(&[("SWEEP", "true"), ("OLD_KEY_GRACE_DAYS", "7")]);
    let (auditor, _) = auditor_in_us_east_1(cfg, rules);
    let report = auditor.handle(scheduled()).await.unwrap();
    drop(_guard);

    assert_eq!(delete.num_calls(), 1, "the claim keeps nothing");
    let f = report
        .findings_of(Kind::IamAccessKey)
        .find(|f| f.resource == "AKIAOLD")
        .unwrap();
    assert!(f.action.as_ref().is_some_and(|a| a.succeeded), "{f:#?}");
    assert!(
        f.reason.contains(&format!(
            "secret {FORGED} names it as its AWSCURRENT key, a claim that changes nothing"
        )),
        "{f:#?}"
    );
    let logs = logs.text();
    let claims: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("claims the key"))
        .collect();
    assert_eq!(claims.len(), 1, "{logs}");
    assert!(
        claims[0].contains(&format!("secret_id={FORGED}")) && claims[0].contains("key_id=AKIAOLD"),
        "{logs}"
    );
}
