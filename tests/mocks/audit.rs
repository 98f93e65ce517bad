//! What moto cannot show, with aws-smithy-mocks: RotationPeriodInDays and NextRotationDate,
//! UnsupportedOperationException and KMSInvalidStateException answers, AWS managed keys,
//! replicas and imported-material expiry, throttling, a failing region or account, pagination,
//! and that secret values stay out of logs and reports.

use crate::common::audit::config;
use crate::common::*;
use crate::support::audit::*;
use crate::support::*;
use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::report::{Finding, Kind};
use aws_key_rotation::audit::verdict::Verdict;
use aws_key_rotation::audit::NOT_AUDITED;
use aws_key_rotation::aws::{retry_config, ClientFactory, RegionClients};
use aws_sdk_iam::types::StatusType;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput;
use aws_sdk_kms::operation::get_key_rotation_status::{
    GetKeyRotationStatusError, GetKeyRotationStatusOutput,
};
use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsOutput;
use aws_sdk_kms::operation::list_keys::{ListKeysError, ListKeysOutput};
use aws_sdk_kms::types::{
    ExpirationModelType, ImportState, IncludeKeyMaterial, KeyListEntry, KeyManagerType,
    KeyMaterialState, KeyMetadata, KeySpec, KeyState, MultiRegionConfiguration, MultiRegionKey,
    MultiRegionKeyType, OriginType, RotationType, RotationsListEntry,
};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn a_rotation_period_over_the_maximum_is_remediated_with_the_configured_period() {
    let enable_k1 = mock!(aws_sdk_kms::Client::enable_key_rotation)
        .match_requests(|r| {
            r.key_id() == Some("k-long") && r.rotation_period_in_days() == Some(180)
        })
        .then_output(|| EnableKeyRotationOutput::builder().build());
    let enable_other = mock!(aws_sdk_kms::Client::enable_key_rotation)
        .match_requests(|r| r.key_id() != Some("k-long"))
        .then_output(|| EnableKeyRotationOutput::builder().build());
    let rules = kms_only(vec![
        list_keys_rule(&["k-long", "k-overdue", "k-ok"]),
        describe_rule(sym("k-long", KeyState::Enabled)),
        describe_rule(sym("k-overdue", KeyState::Enabled)),
        describe_rule(sym("k-ok", KeyState::Enabled)),
        status_rule("k-long", true, Some(730), Some(NOW + 30 * DAY)),
        status_rule("k-overdue", true, Some(90), Some(NOW - DAY)),
        status_rule("k-ok", true, Some(180), Some(NOW + 100 * DAY)),
        enable_k1.clone(),
        enable_other.clone(),
    ]);
    let cfg = config(&[
        ("KMS_MAX_ROTATION_DAYS", "180"),
        ("REMEDIATE", "true"),
        ("REMEDIATE_ROTATION_DAYS", "180"),
    ]);
    let (auditor, emitted) = auditor_in_us_east_1(cfg, rules);
    let report = auditor.handle(scheduled()).await.unwrap();

    let f = key_finding(&report, "k-long");
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(
        f.reason,
        "rotation period 730 days exceeds the 180-day maximum"
    );
    let k = f.kms.as_ref().unwrap();
    assert!(k.remediable);
    assert_eq!(k.rotation_period_days, Some(730));
    assert_eq!(
        k.next_rotation_date.as_deref(),
        Some("2027-02-14T08:00:00Z")
    );
    assert!(f.action.as_ref().is_some_and(|a| a.succeeded), "{f:#?}");
    assert_eq!(enable_k1.num_calls(), 1);

    let f = key_finding(&report, "k-overdue");
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(
        f.reason,
        "rotation overdue: next rotation was due 2027-01-14T08:00:00Z"
    );
    assert!(
        !f.remediable() && f.action.is_none(),
        "an overdue rotation is not fixed by EnableKeyRotation"
    );
    let f = key_finding(&report, "k-ok");
    assert_eq!(f.verdict, Verdict::Compliant);
    assert_eq!(
        f.reason,
        "rotation enabled every 180 days, next 2027-04-25T08:00:00Z"
    );
    assert_eq!(enable_other.num_calls(), 0);
    assert_eq!(report.actions.remediated, 1);
    let doc = emitted_for(&emitted, "us-east-1");
    assert_eq!(
        (doc["Remediated"].as_u64(), doc["NonCompliant"].as_u64()),
        (Some(1), Some(2))
    );
}

/// A customer-managed multi-Region key `id` of us-east-1, of `kind`, whose primary is in
/// `primary` and replicas in `replicas`.
fn multi_region_key(
    id: &str,
    kind: MultiRegionKeyType,
    primary: &str,
    replicas: &[&str],
) -> KeyMetadata {
    let key_in = |region: &str| {
        MultiRegionKey::builder()
            .arn(arn(region, id))
            .region(region)
            .build()
    };
    let mut configuration = MultiRegionConfiguration::builder()
        .multi_region_key_type(kind)
        .primary_key(key_in(primary));
    for region in replicas {
        configuration = configuration.replica_keys(key_in(region));
    }
    KeyMetadata::builder()
        .key_id(id)
        .arn(arn("us-east-1", id))
        .key_manager(KeyManagerType::Customer)
        .key_spec(KeySpec::SymmetricDefault)
        .origin(OriginType::AwsKms)
        .key_state(KeyState::Enabled)
        .multi_region(true)
        .multi_region_configuration(configuration.build())
        .build()
        .unwrap()
}

#[tokio::test]
async fn unsupported_operation_and_invalid_state_answers() {
    let replica = multi_region_key("mrk-1", MultiRegionKeyType::Replica, "eu-west-1", &[]);
    let imported = KeyMetadata::builder()
        .key_id("k-imported")
        .arn(arn("us-east-1", "k-imported"))
        .key_manager(KeyManagerType::Customer)
        .key_spec(KeySpec::SymmetricDefault)
        .origin(OriginType::External)
        .key_state(KeyState::Enabled)
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from_secs(NOW + 20 * DAY))
        .creation_date(DateTime::from_secs(NOW - 900 * DAY))
        .current_key_material_id("material-2")
        .build()
        .unwrap();
    // What moto does not answer: the key materials of an imported key (IncludeKeyMaterial).
    let materials = mock!(aws_sdk_kms::Client::list_key_rotations)
        .match_requests(|r| {
            r.key_id() == Some("k-imported")
                && r.include_key_material() == Some(&IncludeKeyMaterial::AllKeyMaterial)
        })
        .then_output(|| {
            let entry = |id: &str, state: KeyMaterialState, date: Option<i64>| {
                RotationsListEntry::builder()
                    .key_id("k-imported")
                    .key_material_id(id)
                    .key_material_state(state)
                    .import_state(ImportState::Imported)
                    .set_rotation_date(date.map(DateTime::from_secs))
                    .set_rotation_type(date.map(|_| RotationType::OnDemand))
                    .build()
            };
            ListKeyRotationsOutput::builder()
                .rotations(entry("material-1", KeyMaterialState::NonCurrent, None))
                .rotations(entry(
                    "material-2",
                    KeyMaterialState::Current,
                    Some(NOW - 400 * DAY),
                ))
                .truncated(false)
                .build()
        });
    // Rules that must not be used: the audit decides these classes from DescribeKey alone.
    let never: Vec<Rule> = ["k-rsa", "k-aws", "k-imported", "k-pending"]
        .iter()
        .map(|id| status_error_rule(id, "UnsupportedOperationException"))
        .collect();
    let denied = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("k-denied"))
        .then_error(|| DescribeKeyError::generic(kms_error_meta("AccessDeniedException")));
    let mut kms = vec![
        list_keys_rule(&[
            "k-unsupported",
            "k-disabled",
            "k-changed",
            "k-rsa",
            "k-aws",
            "mrk-1",
            "k-imported",
            "k-pending",
            "k-denied",
        ]),
        describe_rule(sym("k-unsupported", KeyState::Enabled)),
        describe_rule(sym("k-disabled", KeyState::Disabled)),
        describe_rule(sym("k-changed", KeyState::Enabled)),
        describe_rule(meta(
            "k-rsa",
            KeyManagerType::Customer,
            "RSA_4096",
            OriginType::AwsKms,
            KeyState::Enabled,
        )),
        describe_rule(meta(
            "k-aws",
            KeyManagerType::Aws,
            "SYMMETRIC_DEFAULT",
            OriginType::AwsKms,
            KeyState::Enabled,
        )),
        describe_rule(replica),
        describe_rule(imported),
        describe_rule(sym("k-pending", KeyState::PendingImport)),
        denied,
        status_error_rule("k-unsupported", "UnsupportedOperationException"),
        status_error_rule("k-disabled", "KMSInvalidStateException"),
        status_error_rule("k-changed", "KMSInvalidStateException"),
        // The replica's primary (eu-west-1) is not audited here: the replica is asked instead.
        status_rule("mrk-1", false, None, None),
        materials.clone(),
        no_rotations_rule(),
    ];
    kms.extend(never.iter().cloned());
    let rules = kms_only(kms);
    let (auditor, _) = auditor_in_us_east_1(AuditConfig::default(), rules);
    let report = auditor.handle(scheduled()).await.unwrap();

    let f = key_finding(&report, "k-unsupported");
    assert_eq!(f.verdict, Verdict::Error);
    assert!(
        f.reason
            .contains("UnsupportedOperationException for a key that looked eligible"),
        "{}",
        f.reason
    );
    assert_eq!(
        f.error_code.as_deref(),
        Some("UnsupportedOperationException")
    );
    let f = key_finding(&report, "k-disabled");
    assert_eq!(f.verdict, Verdict::NotApplicable);
    assert_eq!(
        f.reason,
        "key state Disabled; saved rotation setting unknown (KMSInvalidStateException)"
    );
    let f = key_finding(&report, "k-changed");
    assert_eq!(f.verdict, Verdict::Error);
    assert_eq!(f.error_code.as_deref(), Some("KMSInvalidStateException"));
    assert_eq!(
        key_finding(&report, "k-rsa").verdict,
        Verdict::NotApplicable
    );
    let f = key_finding(&report, "k-aws");
    assert_eq!(
        (f.verdict, f.reason.as_str()),
        (
            Verdict::NotApplicable,
            "AWS managed key: AWS rotates it every year"
        )
    );
    let f = key_finding(&report, "mrk-1");
    assert_eq!(f.verdict, Verdict::NonCompliant, "{}", f.reason);
    assert!(
        f.reason
            .starts_with("rotation disabled; multi-Region replica of")
            && !f.remediable(),
        "{f:?}"
    );
    assert_eq!(
        f.kms.as_ref().unwrap().primary_key_arn.as_deref(),
        Some(arn("eu-west-1", "mrk-1").as_str())
    );
    // A replica's last use is its own: KMS tracks it apart from its primary's.
    assert_eq!(
        f.kms.as_ref().unwrap().last_use_tracked_apart_from_primary,
        Some(true)
    );
    let f = key_finding(&report, "k-imported");
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(
        f.reason,
        "imported key material (origin EXTERNAL): current material in use since \
         2025-12-11T08:00:00Z (400 days), over the 365-day maximum: import new material and \
         rotate on demand; key material expires 2027-02-04T08:00:00Z"
    );
    let k = f.kms.as_ref().unwrap();
    assert!(!k.remediable);
    assert_eq!(
        (
            k.key_material_expires.as_deref(),
            k.current_key_material_id.as_deref(),
            k.key_material_since.as_deref()
        ),
        (
            Some("2027-02-04T08:00:00Z"),
            Some("material-2"),
            Some("2025-12-11T08:00:00Z")
        )
    );
    assert_eq!(materials.num_calls(), 1);
    assert_eq!(
        key_finding(&report, "k-pending").reason,
        "key state PendingImport"
    );
    let f = key_finding(&report, "k-denied");
    assert_eq!(
        (f.verdict, f.reason.as_str()),
        (Verdict::Error, "DescribeKey failed: AccessDeniedException")
    );
    assert_eq!(f.error_code.as_deref(), Some("AccessDeniedException"));
    for rule in &never {
        assert_eq!(
            rule.num_calls(),
            0,
            "GetKeyRotationStatus was called for a key that cannot rotate"
        );
    }
    assert_eq!(
        report.stats.aws_calls.get("kms:GetKeyRotationStatus"),
        Some(&4)
    );
    assert_eq!(report.summary.error, 3);
}

/// Standard retry mode here: in adaptive mode (the audit's, see `audit_clients_retry_adaptively`)
/// the SDK's client-side rate limiter starts near 0.5 requests/s after the first throttle when
/// it has measured little traffic, which makes each retry of this test wait seconds. The
/// attempts and the verdicts are the same in both modes.
#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_reported_when_it_persists() {
    let recovers = mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(|r| r.key_id() == Some("k-recovers"))
        .sequence()
        .error(|| GetKeyRotationStatusError::generic(kms_error_meta("ThrottlingException")))
        .times(2)
        .output(|| {
            GetKeyRotationStatusOutput::builder()
                .key_rotation_enabled(true)
                .rotation_period_in_days(365)
                .build()
        })
        .build();
    let persists = mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(|r| r.key_id() == Some("k-throttled"))
        .then_error(|| GetKeyRotationStatusError::generic(kms_error_meta("ThrottlingException")));
    let rules = kms_only(vec![
        list_keys_rule(&["k-recovers", "k-throttled"]),
        describe_rule(sym("k-recovers", KeyState::Enabled)),
        describe_rule(sym("k-throttled", KeyState::Enabled)),
        recovers.clone(),
        persists.clone(),
        mock!(aws_sdk_kms::Client::get_key_last_usage).then_output(|| last_usage(Some(NOW - DAY))),
    ]);
    let standard =
        aws_config::retry::RetryConfig::standard().with_max_attempts(retry_config().max_attempts());
    let kms = mock_client!(aws_sdk_kms, "us-east-1", rules.kms.iter(), standard);
    let mut clients = clients("us-east-1", &rules);
    clients.kms = kms;
    let factory: ClientFactory = Arc::new(move |_| clients.clone());
    let auditor = with_factory(
        AuditConfig::default(),
        "us-east-1",
        &sts_rules(),
        factory,
        NOW,
    );
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(
        key_finding(&report, "k-recovers").verdict,
        Verdict::Compliant
    );
    assert_eq!(
        recovers.num_calls(),
        3,
        "two throttled attempts, then the answer"
    );
    let f = key_finding(&report, "k-throttled");
    assert_eq!(
        f.verdict,
        Verdict::Error,
        "throttled past retries is never a verdict"
    );
    assert_eq!(f.reason, "GetKeyRotationStatus failed: ThrottlingException");
    assert_eq!(
        persists.num_calls(),
        5,
        "the audit's retry config allows five attempts"
    );
    // The gate counts a call once, however many attempts the SDK made.
    assert_eq!(
        report.stats.aws_calls.get("kms:GetKeyRotationStatus"),
        Some(&2)
    );
}

#[tokio::test]
async fn one_region_failing_does_not_stop_the_others() {
    let us = RegionRules {
        kms: vec![
            list_keys_rule(&["k1"]),
            describe_rule(sym("k1", KeyState::Enabled)),
            status_rule("k1", true, Some(365), None),
        ],
        iam: vec![
            list_users_rule(vec![iam_user("alice", NOW - 400 * DAY, None)]),
            list_access_keys_rule(
                Some("alice"),
                vec![access_key(
                    "alice",
                    "AKIAALICE",
                    StatusType::Active,
                    Some(NOW - 10 * DAY),
                )],
            ),
            mock!(aws_sdk_iam::Client::get_access_key_last_used).then_output(|| {
                aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                    .user_name("alice")
                    .access_key_last_used(
                        aws_sdk_iam::types::AccessKeyLastUsed::builder()
                            .last_used_date(DateTime::from_secs(NOW - DAY))
                            .service_name("sts")
                            .region("us-east-1")
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
            account_summary_rule(Some(1)),
        ],
        ..RegionRules::default()
    };
    let eu = RegionRules {
        kms: vec![mock!(aws_sdk_kms::Client::list_keys)
            .then_error(|| ListKeysError::generic(kms_error_meta("AccessDeniedException")))],
        ..RegionRules::default()
    };
    let cfg = config(&[("AUDIT_REGIONS", "us-east-1,eu-west-1")]);
    let (auditor, emitted) = auditor(
        cfg,
        vec![("us-east-1", us), ("eu-west-1", eu)],
        sts_rules(),
        NOW,
    );
    let report = auditor.handle(scheduled()).await.unwrap();

    let scope: Vec<&Finding> = report.findings_of(Kind::Scope).collect();
    assert_eq!(scope.len(), 1, "{scope:#?}");
    assert_eq!(scope[0].resource, "kms:ListKeys");
    assert_eq!(scope[0].region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        scope[0].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    assert_eq!(key_finding(&report, "k1").verdict, Verdict::Compliant);
    let alice: Vec<&Finding> = report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.user() == Some("alice"))
        .collect();
    assert_eq!(alice.len(), 1);
    // A compliant key's last use changes nothing: a scheduled audit does not ask for it.
    assert_eq!(alice[0].reason, "age 10 days");
    assert!(
        !report
            .stats
            .aws_calls
            .contains_key("iam:GetAccessKeyLastUsed"),
        "{:?}",
        report.stats.aws_calls
    );
    let root: Vec<&Finding> = report
        .findings_of(Kind::IamAccessKey)
        .filter(|f| f.user() == Some("<root_account>"))
        .collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].verdict, Verdict::NonCompliant);
    assert_eq!(report.summary.error, 1);
    let docs = emitted.lock().unwrap().clone();
    let eu_doc = docs.iter().find(|d| d["Region"] == "eu-west-1").unwrap();
    assert_eq!(eu_doc["Errors"], json!(1));
    let us_doc = docs.iter().find(|d| d["Region"] == "us-east-1").unwrap();
    assert_eq!(
        (us_doc["Compliant"].as_u64(), us_doc["Errors"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn list_keys_is_paginated() {
    let page = |ids: &[&str], next: Option<&str>| {
        let keys: Vec<KeyListEntry> = ids
            .iter()
            .map(|id| KeyListEntry::builder().key_id(*id).build())
            .collect();
        ListKeysOutput::builder()
            .set_keys(Some(keys))
            .truncated(next.is_some())
            .set_next_marker(next.map(str::to_owned))
            .build()
    };
    let first = mock!(aws_sdk_kms::Client::list_keys)
        .match_requests(|r| r.marker().is_none())
        .then_output(move || page(&["p1", "p2"], Some("m1")));
    let second = mock!(aws_sdk_kms::Client::list_keys)
        .match_requests(|r| r.marker() == Some("m1"))
        .then_output(move || page(&["p3"], None));
    let rules = kms_only(vec![
        first,
        second,
        describe_rule(sym("p1", KeyState::Enabled)),
        describe_rule(sym("p2", KeyState::Enabled)),
        describe_rule(sym("p3", KeyState::Enabled)),
        status_rule("p1", false, None, None),
        status_rule("p2", false, None, None),
        status_rule("p3", true, Some(365), None),
        no_rotations_rule(),
    ]);
    let (auditor, _) = auditor_in_us_east_1(AuditConfig::default(), rules);
    let report = auditor.handle(scheduled()).await.unwrap();
    assert_eq!(report.findings_of(Kind::KmsKey).count(), 3);
    assert_eq!(key_finding(&report, "p3").verdict, Verdict::Compliant);
    assert_eq!(report.stats.aws_calls.get("kms:ListKeys"), Some(&2));
    assert_eq!(report.stats.aws_calls.get("kms:ListKeyRotations"), Some(&2));
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_an_error_for_its_account_only() {
    let good = "arn:aws:iam::111111111111:role/Audit";
    let bad = "arn:aws:iam::222222222222:role/Audit";
    let mut sts = sts_rules();
    sts.extend([
        mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(move |r| r.role_arn() == Some(good))
            .then_output(|| assumed("ASIAGOOD")),
        mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(move |r| r.role_arn() == Some(bad))
            .then_error(assume_denied),
    ]);
    let rules = kms_only(rotation_off_key("k1"));
    let by_region: HashMap<String, RegionClients> =
        HashMap::from([("us-east-1".to_owned(), clients("us-east-1", &rules))]);
    // (account, access key id) of every set of clients made.
    type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let factory: ClientFactory = Arc::new(move |scope| {
        record.lock().unwrap().push((
            scope.account.map(str::to_owned),
            scope.credentials.map(|c| c.access_key_id().to_owned()),
        ));
        by_region[scope.region].clone()
    });
    let cfg = config(&[("AUDIT_ROLE_ARNS", &format!("{good},{bad}"))]);
    let auditor = with_factory(cfg, "us-east-1", &sts, factory, NOW);
    let report = auditor.handle(scheduled()).await.unwrap();

    let f = key_finding(&report, "k1");
    assert_eq!(f.account.as_deref(), Some("111111111111"));
    assert_eq!(f.verdict, Verdict::NonCompliant);
    let errors: Vec<&Finding> = report
        .findings_of(Kind::Scope)
        .filter(|f| f.verdict == Verdict::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].resource, bad);
    assert_eq!(errors[0].account.as_deref(), Some("222222222222"));
    assert_eq!(errors[0].error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(report.accounts, ["111111111111"]);
    // Clients of the audited account sign with the assumed role's credentials; the others are
    // the function's own (it lists its own rotation secrets, for cross-account rotations).
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|(a, c)| match c.as_deref() {
            Some(c) => a.as_deref() == Some("111111111111") && c == "ASIAGOOD",
            None => a.as_deref() == Some("123456789012"),
        }),
        "{seen:?}"
    );
    assert!(seen
        .iter()
        .all(|(a, _)| a.as_deref() != Some("222222222222")));
    assert!(!format!("{report:?}").contains("assumed-secret"));
}

#[tokio::test]
async fn an_audit_out_of_time_still_names_every_key_it_found() {
    let describe = describe_rule(sym("k1", KeyState::Enabled));
    let access_keys = list_access_keys_rule(None, Vec::new());
    let rules = RegionRules {
        kms: vec![list_keys_rule(&["k1", "k2"]), describe.clone()],
        iam: vec![
            list_users_rule(vec![iam_user("alice", NOW - DAY, None)]),
            access_keys.clone(),
            account_summary_rule(None),
        ],
        ..RegionRules::default()
    };
    let (auditor, _) = auditor_in_us_east_1(config(&[("REMEDIATE", "true")]), rules);
    // A Lambda with less time left than the audit keeps in reserve.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let report = auditor
        .handle_until(scheduled(), Some(deadline))
        .await
        .unwrap();

    for id in ["k1", "k2"] {
        let f = key_finding(&report, id);
        assert_eq!(
            (f.verdict, f.reason.as_str()),
            (Verdict::Error, NOT_AUDITED)
        );
    }
    let alice: Vec<&Finding> = report.findings_of(Kind::IamUser).collect();
    assert_eq!(alice.len(), 1);
    assert_eq!(
        (alice[0].resource.as_str(), alice[0].verdict),
        ("alice", Verdict::Error)
    );
    assert_eq!(describe.num_calls(), 0);
    assert_eq!(access_keys.num_calls(), 0);
    assert_eq!(report.summary.error, 3);
}

/// What IAM answers about alice's replaced key when the sweep looks again, right before deleting.
struct Reread {
    status: StatusType,
    last_used: Option<i64>,
}

/// The sweep over alice, bound to her secret, whose tags say AKIAOLD (Inactive at the listing,
/// made 400 days ago) was replaced by AKIANEW 30 days ago; both recorded on alice as keys the
/// rotator created for that binding. Returns the report and how many
/// DeleteAccessKey calls were made.
async fn sweep_alice(reread: Reread) -> (aws_key_rotation::audit::report::Report, usize) {
    use aws_sdk_iam::types::AccessKeyLastUsed;
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice-AbCdEf";
    let key = |id: &str, status: StatusType, days_ago: i64| {
        access_key("alice", id, status, Some(NOW - days_ago * DAY))
    };
    let user = || bound_user("alice", NOW - 900 * DAY, SECRET, &["AKIAOLD", "AKIANEW"]);
    let listing_with = move |old: StatusType| {
        aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
            .access_key_metadata(key("AKIAOLD", old, 400))
            .access_key_metadata(key("AKIANEW", StatusType::Active, 30))
            .build()
            .unwrap()
    };
    let listing = {
        let reread_status = reread.status.clone();
        mock!(aws_sdk_iam::Client::list_access_keys)
            .sequence()
            .output(move || listing_with(StatusType::Inactive))
            .output(move || listing_with(reread_status.clone()))
            .build()
    };
    let last_used = move |date: Option<i64>| {
        let mut u = AccessKeyLastUsed::builder()
            .service_name("s3")
            .region("us-east-1");
        if let Some(d) = date {
            u = u.last_used_date(DateTime::from_secs(d));
        }
        aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
            .user_name("alice")
            .access_key_last_used(u.build().unwrap())
            .build()
    };
    let delete = mock!(aws_sdk_iam::Client::delete_access_key).then_output(|| {
        aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput::builder().build()
    });
    let rules = RegionRules {
        kms: vec![list_keys_rule(&[])],
        iam: vec![
            list_users_rule(vec![user()]),
            mock!(aws_sdk_iam::Client::get_user).then_output(move || {
                aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                    .user(user())
                    .build()
            }),
            listing,
            mock!(aws_sdk_iam::Client::get_access_key_last_used)
                .match_requests(|r| r.access_key_id() == Some("AKIANEW"))
                .then_output(move || last_used(Some(NOW - DAY))),
            mock!(aws_sdk_iam::Client::get_access_key_last_used)
                .match_requests(|r| r.access_key_id() == Some("AKIAOLD"))
                .then_output(move || last_used(reread.last_used)),
            delete.clone(),
            account_summary_rule(None),
        ],
        secrets: vec![
            mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(move || {
                aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder()
                    .secret_list(
                        aws_sdk_secretsmanager::types::SecretListEntry::builder()
                            .arn(SECRET)
                            .name("alice")
                            .rotation_enabled(true)
                            .tags(secret_tag("RotationType", "iam-access-key"))
                            .tags(secret_tag("KeyRotationUserName", "alice"))
                            .tags(secret_tag("KeyRotationAccessKeyId", "AKIANEW"))
                            .tags(secret_tag("KeyRotationPreviousAccessKeyId", "AKIAOLD"))
                            .build(),
                    )
                    .build()
            }),
        ],
        ..RegionRules::default()
    };
    let cfg = config(&[
        ("AUDIT_REGIONS", "us-east-1"),
        ("SWEEP", "true"),
        ("OLD_KEY_GRACE_DAYS", "7"),
    ]);
    let (auditor, _) = auditor_in_us_east_1(cfg, rules);
    let report = auditor.handle(scheduled()).await.unwrap();
    (report, delete.num_calls())
}

/// The sweep deletes from what IAM says right before the deletion, not from a listing made
/// earlier in the run: a key reactivated since, or used after its replacement, stays.
#[tokio::test]
async fn the_sweep_reads_the_key_again_right_before_deleting_it() {
    let old = |report: &aws_key_rotation::audit::report::Report| {
        report
            .findings_of(Kind::IamAccessKey)
            .find(|f| f.resource == "AKIAOLD")
            .cloned()
            .unwrap()
    };
    // Still Inactive, unused for 30 days: deleted (the control case).
    let (report, deletes) = sweep_alice(Reread {
        status: StatusType::Inactive,
        last_used: Some(NOW - 35 * DAY),
    })
    .await;
    assert_eq!(deletes, 1);
    assert!(old(&report).action.is_some_and(|a| a.succeeded));
    assert_eq!(report.stats.aws_calls.get("iam:GetUser"), Some(&1));

    // An operator reactivated it during the run: kept.
    let (report, deletes) = sweep_alice(Reread {
        status: StatusType::Active,
        last_used: Some(NOW - 35 * DAY),
    })
    .await;
    assert_eq!(deletes, 0);
    let f = old(&report);
    assert!(
        f.action.is_none()
            && f.reason
                .contains("its status changed during the audit (now Active)"),
        "{f:#?}"
    );

    // Used three days ago (after its replacement): the grace period runs from that use.
    let (report, deletes) = sweep_alice(Reread {
        status: StatusType::Inactive,
        last_used: Some(NOW - 3 * DAY),
    })
    .await;
    assert_eq!(deletes, 0);
    let f = old(&report);
    assert!(
        f.action.is_none() && f.reason.contains("inside the 7-day grace period"),
        "{f:#?}"
    );
}

/// BatchImportFindings takes at most 100 findings: 250 go in three calls; the findings a call
/// reports as failed are sent again, and only those.
#[tokio::test]
async fn security_hub_imports_in_batches_and_resends_what_failed() {
    use aws_key_rotation::audit::export;
    use aws_key_rotation::audit::report::Finding;
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::types::ImportFindingsError;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let ok = |n: i32| {
        BatchImportFindingsOutput::builder()
            .failed_count(0)
            .success_count(n)
            .build()
    };
    // The first call fails two findings (a throttled partition); every later call succeeds.
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.findings().len());
            true
        })
        .sequence()
        .output(|| {
            BatchImportFindingsOutput::builder()
                .failed_count(2)
                .success_count(98)
                .failed_findings(
                    ImportFindingsError::builder()
                        .id(format!(
                            "arn:aws:securityhub:us-east-1:{ACCOUNT}:aws-key-rotation/kms-key/k0"
                        ))
                        .error_code("ThrottlingException")
                        .error_message("slow down")
                        .build(),
                )
                .failed_findings(
                    ImportFindingsError::builder()
                        .id(format!(
                            "arn:aws:securityhub:us-east-1:{ACCOUNT}:aws-key-rotation/kms-key/k1"
                        ))
                        .error_code("ThrottlingException")
                        .error_message("slow down")
                        .build(),
                )
                .build()
        })
        .output(move || ok(100))
        .output(move || ok(50))
        .output(move || ok(2))
        .build();
    let client = mock_client!(aws_sdk_securityhub, "us-east-1", [&rule]);
    let findings: Vec<Finding> = (0..250)
        .map(|i| Finding {
            account: Some(ACCOUNT.to_owned()),
            region: Some("us-east-1".to_owned()),
            ..Finding::new(
                Kind::KmsKey,
                format!("k{i}"),
                Verdict::Compliant,
                "rotation on",
            )
        })
        .collect();
    let refs: Vec<&Finding> = findings.iter().collect();
    let mut out = export::HubOutcome::default();
    export::import(
        &client.into(),
        &refs,
        "us-east-1",
        "2027-01-15T08:00:00Z",
        &mut out,
    )
    .await;
    assert_eq!(*sizes.lock().unwrap(), vec![100, 100, 50, 2]);
    assert_eq!(
        (out.imported, out.failed, out.calls),
        (250, 0, 4),
        "{out:?}"
    );
}

/// Each ASFF finding sent to Security Hub names the control it corresponds to (product field)
/// and the CIS requirements with the benchmark version (`Compliance.RelatedRequirements`).
#[tokio::test]
async fn security_hub_findings_name_their_control_and_cis_requirements() {
    use aws_key_rotation::audit::export;
    use aws_key_rotation::audit::report::{Finding, IamDetail};
    use aws_key_rotation::aws::securityhub::SECURITY_CONTROL_FIELD;
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(move |r| {
            seen.lock().unwrap().extend(r.findings().iter().map(|f| {
                (
                    f.resources()[0].r#type().unwrap_or_default().to_owned(),
                    f.product_fields()
                        .and_then(|p| p.get(SECURITY_CONTROL_FIELD))
                        .cloned(),
                    f.compliance()
                        .map(|c| c.related_requirements().to_vec())
                        .unwrap_or_default(),
                )
            }));
            true
        })
        .then_output(|| {
            BatchImportFindingsOutput::builder()
                .failed_count(0)
                .success_count(3)
                .build()
        });
    let client = mock_client!(aws_sdk_securityhub, "us-east-1", [&rule]);
    let at = |f: Finding| Finding {
        account: Some(ACCOUNT.to_owned()),
        region: Some("us-east-1".to_owned()),
        ..f
    };
    let findings = [
        at(Finding::new(
            Kind::KmsKey,
            "k1",
            Verdict::NonCompliant,
            "rotation disabled",
        )),
        at(Finding {
            iam: Some(IamDetail {
                user: "alice".into(),
                ..IamDetail::default()
            }),
            ..Finding::new(
                Kind::IamAccessKey,
                "AKIA1",
                Verdict::NonCompliant,
                "age 97 days",
            )
        }),
        at(Finding::new(
            Kind::Secret,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
            Verdict::NonCompliant,
            "rotation disabled",
        )),
    ];
    let refs: Vec<&Finding> = findings.iter().collect();
    let mut out = export::HubOutcome::default();
    export::import(
        &client.into(),
        &refs,
        "us-east-1",
        "2027-01-15T08:00:00Z",
        &mut out,
    )
    .await;
    assert_eq!(out.imported, 3, "{out:?}");
    let sent = sent.lock().unwrap().clone();
    let of = |t: &str| sent.iter().find(|s| s.0 == t).cloned().unwrap();
    let cis = |a: &str, b: &str| {
        vec![
            format!("CIS AWS Foundations Benchmark v3.0.0/{a}"),
            format!("CIS AWS Foundations Benchmark v5.0.0/{b}"),
        ]
    };
    let (_, control, requirements) = of("AwsKmsKey");
    assert_eq!(control.as_deref(), Some("KMS.4"));
    assert_eq!(requirements, cis("3.6", "3.6"));
    let (_, control, requirements) = of("AwsIamAccessKey");
    assert_eq!(control.as_deref(), Some("IAM.3"));
    assert_eq!(requirements, cis("1.14", "1.13"));
    let (_, control, requirements) = of("AwsSecretsManagerSecret");
    assert_eq!(control.as_deref(), Some("SecretsManager.1"));
    assert!(requirements.is_empty());
}

/// A report that cannot be stored is logged and said in the report; the findings still come
/// back in the invocation's result.
#[tokio::test]
async fn a_report_s3_refuses_is_counted_and_the_findings_still_returned() {
    let put = mock!(aws_sdk_s3::Client::put_object).then_error(|| {
        aws_sdk_s3::operation::put_object::PutObjectError::generic(
            aws_sdk_s3::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("no")
                .build(),
        )
    });
    let s3 = mock_client!(aws_sdk_s3, "us-east-1", [&put]);
    let rules = kms_only(rotation_off_key("k1"));
    let cfg = config(&[("AUDIT_REGIONS", "us-east-1"), ("REPORT_BUCKET", "reports")]);
    let (auditor, _) = auditor_in_us_east_1(cfg, rules);
    let report = auditor.with_s3(s3).handle(scheduled()).await.unwrap();
    assert_eq!(put.num_calls(), 1);
    let stored = report
        .export
        .as_ref()
        .and_then(|e| e.s3.as_ref())
        .expect("s3 outcome");
    assert!(!stored.stored);
    assert!(
        stored
            .error
            .as_deref()
            .is_some_and(|e| e.contains("AccessDenied")),
        "{stored:?}"
    );
    assert_eq!(key_finding(&report, "k1").verdict, Verdict::NonCompliant);
}

/// A report goes only to a bucket of the function's own account: every PutObject carries
/// `ExpectedBucketOwner` (S3 refuses the write when someone else owns a bucket of that name,
/// say one created again after the original was deleted); when the own account cannot be
/// identified, nothing is written.
#[tokio::test]
async fn the_report_is_written_only_to_a_bucket_of_the_function_s_own_account() {
    let owners: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = owners.clone();
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            seen.lock()
                .unwrap()
                .push(r.expected_bucket_owner().map(str::to_owned));
            true
        })
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, "us-east-1", [&put]);
    let cfg = config(&[("AUDIT_REGIONS", "us-east-1"), ("REPORT_BUCKET", "reports")]);
    let (own, _) = auditor_in_us_east_1(cfg.clone(), kms_only(rotation_off_key("k1")));
    let report = own.with_s3(s3).handle(scheduled()).await.unwrap();
    let stored = report.export.as_ref().and_then(|e| e.s3.as_ref()).unwrap();
    assert!(stored.stored, "{stored:?}");
    assert_eq!(
        *owners.lock().unwrap(),
        vec![Some(ACCOUNT.to_owned()); 2],
        "the JSON report and its CSV"
    );

    // GetCallerIdentity refused: the bucket's owner cannot be named, so nothing is written.
    let put = mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, "us-east-1", [&put]);
    let no_identity = vec![
        mock!(aws_sdk_sts::Client::get_caller_identity).then_error(|| {
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError::generic(
                aws_sdk_sts::error::ErrorMetadata::builder()
                    .code("AccessDenied")
                    .build(),
            )
        }),
    ];
    let (unidentified, _) = auditor(
        cfg,
        vec![("us-east-1", kms_only(rotation_off_key("k1")))],
        no_identity,
        NOW,
    );
    let report = unidentified.with_s3(s3).handle(scheduled()).await.unwrap();
    assert_eq!(put.num_calls(), 0);
    let stored = report.export.as_ref().and_then(|e| e.s3.as_ref()).unwrap();
    assert!(!stored.stored);
    assert!(
        stored
            .error
            .as_deref()
            .is_some_and(|e| e.contains("expected owner") && e.contains("AccessDenied")),
        "{stored:?}"
    );
    assert_eq!(key_finding(&report, "k1").verdict, Verdict::NonCompliant);
}

/// An EXEMPT finding goes to Security Hub as Compliance WARNING, Workflow NEW: never SUPPRESSED,
/// which Security Hub stops updating and which no later BatchImportFindings can change. A finding
/// of this run that Security Hub already holds as SUPPRESSED (an earlier version imported
/// exemptions so) is set back to NEW with BatchUpdateFindings; nothing else is touched.
#[tokio::test]
async fn exempt_findings_are_a_visible_warning_and_earlier_suppressions_are_reopened() {
    use aws_key_rotation::audit::export;
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput;
    use aws_sdk_securityhub::operation::get_findings::GetFindingsOutput;
    use aws_sdk_securityhub::types::{
        AwsSecurityFinding, AwsSecurityFindingIdentifier, StringFilterComparison, Workflow,
        WorkflowStatus,
    };
    const PRODUCT: &str = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";
    let hub_id = |key: &str| {
        format!(
            "arn:aws:securityhub:us-east-1:{ACCOUNT}:aws-key-rotation/kms-key/{}",
            arn("us-east-1", key)
        )
    };
    // k1 is exempt; k2 is plainly non-compliant.
    let exempt_tags = mock!(aws_sdk_kms::Client::list_resource_tags)
        .match_requests(|r| r.key_id() == Some("k1"))
        .then_output(|| {
            aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput::builder()
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key("KeyRotationExempt")
                        .tag_value("rotated by the HSM team")
                        .build()
                        .unwrap(),
                )
                .tags(
                    aws_sdk_kms::types::Tag::builder()
                        .tag_key("KeyRotationExemptUntil")
                        .tag_value("2027-06-30")
                        .build()
                        .unwrap(),
                )
                .build()
        });
    // (Compliance, Workflow) of each imported finding, by Id.
    let imported: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
    let record = imported.clone();
    let import = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(move |r| {
            for f in r.findings() {
                record.lock().unwrap().insert(
                    f.id().unwrap_or_default().to_owned(),
                    (
                        f.compliance()
                            .and_then(|c| c.status())
                            .map_or("", |s| s.as_str())
                            .to_owned(),
                        f.workflow()
                            .and_then(|w| w.status())
                            .map_or("", |s| s.as_str())
                            .to_owned(),
                    ),
                );
            }
            true
        })
        .then_output(|| {
            BatchImportFindingsOutput::builder()
                .success_count(2)
                .failed_count(0)
                .build()
        });
    // What Security Hub holds as SUPPRESSED: k1 (imported so by an earlier version), and a key
    // this run did not audit. It is asked only for this audit's suppressed findings; like moto,
    // this mock answers more than the filters let through (k2, NEW), which must be ignored.
    let filters_ok = Arc::new(Mutex::new(false));
    let checked = filters_ok.clone();
    let held = move |id: String, status: WorkflowStatus| {
        AwsSecurityFinding::builder()
            .id(id)
            .product_arn(PRODUCT)
            .generator_id("aws-key-rotation/kms-key")
            .workflow(Workflow::builder().status(status).build())
            .build()
    };
    let (k1_id, k2_id) = (hub_id("k1"), hub_id("k2"));
    let (k1, k2) = (k1_id.clone(), k2_id.clone());
    let get = mock!(aws_sdk_securityhub::Client::get_findings)
        .match_requests(move |r| {
            let f = r.filters().expect("filters");
            *checked.lock().unwrap() = f.generator_id().iter().any(|g| {
                g.value() == Some("aws-key-rotation/")
                    && g.comparison() == Some(&StringFilterComparison::Prefix)
            }) && f.workflow_status().iter().any(|w| {
                w.value() == Some("SUPPRESSED")
                    && w.comparison() == Some(&StringFilterComparison::Equals)
            });
            true
        })
        .then_output(move || {
            GetFindingsOutput::builder()
                .findings(held(k1.clone(), WorkflowStatus::Suppressed))
                .findings(held(hub_id("k-not-audited"), WorkflowStatus::Suppressed))
                .findings(held(k2.clone(), WorkflowStatus::New))
                .build()
        });
    /// One BatchUpdateFindings call: its (Id, ProductArn) pairs and the workflow status it sets.
    type Update = (Vec<(String, String)>, Option<String>);
    let updates: Arc<Mutex<Vec<Update>>> = Arc::default();
    let record = updates.clone();
    let update = mock!(aws_sdk_securityhub::Client::batch_update_findings)
        .match_requests(move |r| {
            record.lock().unwrap().push((
                r.finding_identifiers()
                    .iter()
                    .map(|i| {
                        (
                            i.id().unwrap_or_default().to_owned(),
                            i.product_arn().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
                r.workflow()
                    .and_then(|w| w.status())
                    .map(|s| s.as_str().to_owned()),
            ));
            true
        })
        .then_output(|| {
            BatchUpdateFindingsOutput::builder()
                .processed_findings(
                    AwsSecurityFindingIdentifier::builder()
                        .id(format!(
                            "arn:aws:securityhub:us-east-1:{ACCOUNT}:aws-key-rotation/kms-key/{}",
                            arn("us-east-1", "k1")
                        ))
                        .product_arn(PRODUCT)
                        .build(),
                )
                .build()
        });
    let rules = RegionRules {
        kms: vec![
            list_keys_rule(&["k1", "k2"]),
            describe_rule(sym("k1", KeyState::Enabled)),
            describe_rule(sym("k2", KeyState::Enabled)),
            status_rule("k1", false, None, None),
            status_rule("k2", false, None, None),
            no_rotations_rule(),
            exempt_tags,
        ],
        iam: quiet_iam_rules(),
        securityhub: vec![import.clone(), get.clone(), update.clone()],
        ..RegionRules::default()
    };
    let cfg = config(&[("AUDIT_REGIONS", "us-east-1"), ("SECURITY_HUB", "true")]);
    let (auditor, _) = auditor_in_us_east_1(cfg, rules);
    let report = auditor.handle(scheduled()).await.unwrap();

    assert_eq!(key_finding(&report, "k1").verdict, Verdict::Exempt);
    assert_eq!(key_finding(&report, "k2").verdict, Verdict::NonCompliant);
    let imported = imported.lock().unwrap().clone();
    assert_eq!(
        imported.get(&k1_id),
        Some(&("WARNING".to_owned(), "NEW".to_owned())),
        "{imported:#?}"
    );
    assert_eq!(
        imported.get(&k2_id),
        Some(&("FAILED".to_owned(), "NEW".to_owned())),
        "{imported:#?}"
    );
    assert_eq!(get.num_calls(), 1);
    assert!(
        *filters_ok.lock().unwrap(),
        "only this audit's suppressed findings are asked for"
    );
    assert_eq!(
        *updates.lock().unwrap(),
        vec![(
            vec![(k1_id.clone(), PRODUCT.to_owned())],
            Some("NEW".to_owned())
        )],
        "only this run's suppressed finding, set back to NEW"
    );
    let hub = report
        .export
        .as_ref()
        .and_then(|e| e.security_hub.as_ref())
        .unwrap();
    let hub = serde_json::to_value(hub).unwrap();
    assert_eq!(
        (
            &hub["imported"],
            &hub["failed"],
            &hub["reopened"],
            &hub["reopen_failed"]
        ),
        (&json!(2), &json!(0), &json!(1), &json!(0)),
        "{hub}"
    );
    assert_eq!(
        export::hub_id(key_finding(&report, "k1"), "us-east-1").as_deref(),
        Some(k1_id.as_str())
    );
}

/// GetKeyLastUsage: a key with no use since tracking began carries the tracking start and its
/// last use (none), gets its own line and a count in the summary, and its rotation finding is LOW
/// in Security Hub.
#[tokio::test]
async fn a_kms_key_unused_since_tracking_began_is_called_out_and_low_in_security_hub() {
    use aws_key_rotation::audit::export;
    use aws_key_rotation::aws::securityhub::Level;
    let mut kms = rotation_off_key("k1");
    kms.insert(
        0,
        mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("k1"))
            .then_output(|| last_usage(None)),
    );
    let (auditor, _) = auditor_in_us_east_1(config(&[]), kms_only(kms));
    let report = auditor.handle(scheduled()).await.unwrap();
    let f = key_finding(&report, "k1");
    assert_eq!(f.verdict, Verdict::NonCompliant);
    let d = f.kms.as_ref().unwrap();
    assert_eq!(d.last_used, None);
    assert_eq!(
        d.last_use_tracked_since.as_deref(),
        Some(aws_key_rotation::time::rfc3339(NOW - 400 * DAY).as_str())
    );
    assert_eq!(d.unused_since, d.last_use_tracked_since);
    assert_eq!(d.unused_days, Some(400));
    assert_eq!(d.last_use_tracked_apart_from_primary, None);
    assert!(
        f.reason.starts_with("rotation disabled")
            && f.reason.contains("; unused since ")
            && f.reason.ends_with("consider disabling it"),
        "{}",
        f.reason
    );
    assert_eq!(report.summary.kms_unused, 1);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["summary"]["KMS_UNUSED"], 1);
    let hub = export::hub_finding(f, "us-east-1", "2027-01-15T08:00:00Z").unwrap();
    assert_eq!(hub.level, Level::Low);
    assert_eq!(report.stats.aws_calls.get("kms:GetKeyLastUsage"), Some(&1));
}

/// Use lowers a finding to LOW only when it has been long enough: a key without a recorded use
/// for fewer than KMS_UNUSED_DAYS (here 1,000, against 400 days of tracking) stays MEDIUM; and a
/// multi-Region primary, whose replicas' use KMS records apart, is reported, never judged by
/// its own Region's silence (MEDIUM, no "consider disabling it").
#[tokio::test]
async fn a_key_is_low_only_when_unused_long_enough_and_never_for_one_regions_silence() {
    use aws_key_rotation::audit::export;
    use aws_key_rotation::aws::securityhub::Level;
    let mut kms = rotation_off_key("k1");
    kms.insert(
        0,
        mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("k1"))
            .then_output(|| last_usage(None)),
    );
    let (auditor, _) = auditor_in_us_east_1(config(&[("KMS_UNUSED_DAYS", "1000")]), kms_only(kms));
    let report = auditor.handle(scheduled()).await.unwrap();
    let f = key_finding(&report, "k1");
    assert_eq!(f.verdict, Verdict::NonCompliant);
    assert_eq!(f.kms.as_ref().unwrap().unused_days, None);
    let hub = export::hub_finding(f, "us-east-1", "2027-01-15T08:00:00Z").unwrap();
    assert_eq!(
        hub.level,
        Level::Medium,
        "a key merely unused so far is not LOW"
    );

    let primary = multi_region_key(
        "mrk-p",
        MultiRegionKeyType::Primary,
        "us-east-1",
        &["eu-west-1"],
    );
    let kms = vec![
        mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("mrk-p"))
            .then_output(|| last_usage(None)),
        list_keys_rule(&["mrk-p"]),
        describe_rule(primary),
        status_rule("mrk-p", false, None, None),
        no_rotations_rule(),
    ];
    let (auditor, _) = auditor_in_us_east_1(config(&[]), kms_only(kms));
    let report = auditor.handle(scheduled()).await.unwrap();
    let f = key_finding(&report, "mrk-p");
    assert_eq!(f.verdict, Verdict::NonCompliant, "{}", f.reason);
    assert!(!f.reason.contains("consider disabling"), "{}", f.reason);
    assert_eq!(f.kms.as_ref().unwrap().unused_days, None);
    assert_eq!(report.summary.kms_unused, 0);
    let hub = export::hub_finding(f, "us-east-1", "2027-01-15T08:00:00Z").unwrap();
    assert_eq!(hub.level, Level::Medium);
}

/// A key used yesterday: its last use and operation are reported, nothing else changes; a key
/// used 120 days ago (KMS_UNUSED_DAYS 90) gets the line but stays MEDIUM (it was used since
/// tracking began).
#[tokio::test]
async fn a_kms_keys_last_use_is_reported_and_long_unused_keys_get_a_line() {
    use aws_key_rotation::audit::export;
    use aws_key_rotation::aws::securityhub::Level;
    let (auditor, _) = auditor_in_us_east_1(config(&[]), kms_only(rotation_off_key("k1")));
    let report = auditor.handle(scheduled()).await.unwrap();
    let f = key_finding(&report, "k1");
    let d = f.kms.as_ref().unwrap();
    assert_eq!(
        d.last_used.as_deref(),
        Some(aws_key_rotation::time::rfc3339(NOW - DAY).as_str())
    );
    assert_eq!(d.last_used_operation.as_deref(), Some("Decrypt"));
    assert_eq!((d.unused_since.as_ref(), d.unused_days), (None, None));
    assert_eq!(f.reason, "rotation disabled");
    assert_eq!(report.summary.kms_unused, 0);

    let mut kms = rotation_off_key("k1");
    kms.insert(
        0,
        mock!(aws_sdk_kms::Client::get_key_last_usage)
            .then_output(|| last_usage(Some(NOW - 120 * DAY))),
    );
    let (auditor, _) = auditor_in_us_east_1(config(&[]), kms_only(kms));
    let report = auditor.handle(scheduled()).await.unwrap();
    let f = key_finding(&report, "k1");
    assert_eq!(f.kms.as_ref().unwrap().unused_days, Some(120));
    assert!(f.reason.contains("consider disabling it"), "{}", f.reason);
    assert_eq!(report.summary.kms_unused, 1);
    let hub = export::hub_finding(f, "us-east-1", "2027-01-15T08:00:00Z").unwrap();
    assert_eq!(hub.level, Level::Medium);
    // KMS_UNUSED_DAYS above 120: no line.
    let mut kms = rotation_off_key("k1");
    kms.insert(
        0,
        mock!(aws_sdk_kms::Client::get_key_last_usage)
            .then_output(|| last_usage(Some(NOW - 120 * DAY))),
    );
    let (auditor, _) = auditor_in_us_east_1(config(&[("KMS_UNUSED_DAYS", "180")]), kms_only(kms));
    let report = auditor.handle(scheduled()).await.unwrap();
    assert_eq!(key_finding(&report, "k1").reason, "rotation disabled");
}

/// GetKeyLastUsage refused (an emulator that does not implement it, or denied): the key's last
/// use is reported unknown, with why; the verdict and the audit are unaffected.
#[tokio::test]
async fn a_refused_get_key_last_usage_leaves_the_last_use_unknown_and_the_verdict_alone() {
    use aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageError;
    for code in ["NotImplemented", "AccessDeniedException"] {
        let mut kms = rotation_off_key("k1");
        kms.insert(
            0,
            mock!(aws_sdk_kms::Client::get_key_last_usage)
                .then_error(move || GetKeyLastUsageError::generic(kms_error_meta(code))),
        );
        let (auditor, _) = auditor_in_us_east_1(config(&[]), kms_only(kms));
        let report = auditor.handle(scheduled()).await.unwrap();
        let f = key_finding(&report, "k1");
        assert_eq!(f.verdict, Verdict::NonCompliant);
        assert_eq!(f.reason, "rotation disabled");
        let d = f.kms.as_ref().unwrap();
        assert_eq!(
            d.last_use_unknown.as_deref(),
            Some(format!("GetKeyLastUsage failed: {code}").as_str())
        );
        assert_eq!(
            (d.last_used.as_ref(), d.last_use_tracked_since.as_ref()),
            (None, None)
        );
        assert_eq!(report.summary.error, 0);
    }
}
