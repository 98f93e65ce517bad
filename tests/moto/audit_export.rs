//! The audit's findings where security teams look, end to end on moto: the whole report in S3,
//! one ASFF finding per resource in Security Hub (updated in place by the next run), EXEMPT
//! resources, and the rotation verdicts of secrets.

use crate::common::audit::*;
use crate::common::moto::*;
use crate::common::*;
use aws_key_rotation::audit::report::Kind;
use aws_key_rotation::audit::verdict::Verdict;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
};
use serde_json::Value;

const R: &str = "ap-northeast-1";

async fn hub_findings(id: &str) -> Vec<AwsSecurityFinding> {
    let hub = aws_sdk_securityhub::Client::new(&sdk_config(R));
    // moto ignores the filter; the test applies it again.
    hub.get_findings()
        .filters(
            AwsSecurityFindingFilters::builder()
                .id(StringFilter::builder()
                    .value(id)
                    .comparison(StringFilterComparison::Equals)
                    .build())
                .build(),
        )
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("GetFindings")
        .into_iter()
        .filter(|f| f.id() == Some(id))
        .collect()
}

/// ASFF's required attributes (BatchImportFindings refuses a finding without one of them; moto
/// does not check).
fn assert_asff(f: &AwsSecurityFinding) {
    let present = [
        (
            "SchemaVersion",
            f.schema_version().is_some_and(|v| v == "2018-10-08"),
        ),
        ("Id", f.id().is_some_and(|v| !v.is_empty())),
        (
            "ProductArn",
            f.product_arn().is_some_and(|v| v.contains(":product/")),
        ),
        (
            "GeneratorId",
            f.generator_id().is_some_and(|v| !v.is_empty()),
        ),
        (
            "AwsAccountId",
            f.aws_account_id().is_some_and(|v| v.len() == 12),
        ),
        ("Types", !f.types().is_empty()),
        ("CreatedAt", f.created_at().is_some()),
        ("UpdatedAt", f.updated_at().is_some()),
        (
            "Severity.Label",
            f.severity().and_then(|s| s.label()).is_some(),
        ),
        (
            "Title",
            f.title().is_some_and(|v| !v.is_empty() && v.len() <= 256),
        ),
        (
            "Description",
            f.description()
                .is_some_and(|v| !v.is_empty() && v.len() <= 1024),
        ),
        (
            "Resources",
            !f.resources().is_empty()
                && f.resources()
                    .iter()
                    .all(|r| r.r#type().is_some() && r.id().is_some()),
        ),
        (
            "Compliance.Status",
            f.compliance().and_then(|c| c.status()).is_some(),
        ),
    ];
    for (field, ok) in present {
        assert!(ok, "ASFF {field} missing or invalid in {f:#?}");
    }
}

fn hub_id(f: &aws_key_rotation::audit::report::Finding, kind: &str) -> String {
    format!(
        "arn:aws:securityhub:{R}:{}:aws-key-rotation/{kind}/{}",
        f.account.as_deref().unwrap(),
        f.resource
    )
}

#[tokio::test]
async fn findings_go_to_s3_and_security_hub_and_are_updated_in_place() {
    let kms = kms(R);
    let sm = secrets(R);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(R))
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("reports").to_ascii_lowercase().replace('_', "-");
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(R))
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket");

    // A key to fix between the runs, and an exempt one.
    let (fixed, _) = create_key(&kms, SYMMETRIC).await;
    let (exempt, _) = create_key(&kms, SYMMETRIC).await;
    let until = aws_key_rotation::time::rfc3339(now() + 30 * DAY)[..10].to_owned();
    kms.tag_resource()
        .key_id(&exempt)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("KeyRotationExempt")
                .tag_value("rotated by the HSM team, ticket SEC-42")
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("KeyRotationExemptUntil")
                .tag_value(&until)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A secret without rotation, and one whose rotation stopped (AWSPENDING left on a version
    // that is not AWSCURRENT).
    let plain = create_secret(&sm, &unique("export/plain"), "{}", &[]).await;
    let stuck = create_secret(&sm, &unique("export/stuck"), "{}", &[]).await;
    rotate_towards_no_lambda(&sm, &stuck, None, 30).await;

    let cfg = config(&[
        ("AUDIT_REGIONS", R),
        ("REPORT_BUCKET", &bucket),
        ("REPORT_PREFIX", "audits/"),
        ("SECURITY_HUB", "true"),
    ]);
    let (auditor, _) = auditor_at(cfg.clone(), R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();

    // S3: the whole report, and a CSV beside it.
    let export = report.export.as_ref().expect("export outcome");
    let stored = export.s3.as_ref().expect("stored in S3");
    assert!(stored.stored, "{stored:?}");
    assert!(
        stored.key.starts_with("audits/year=")
            && stored.key.contains("/month=")
            && stored.key.ends_with(".json"),
        "{}",
        stored.key
    );
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&stored.key)
        .send()
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(body["trigger"], "schedule");
    assert_eq!(
        body["findings"].as_array().unwrap().len(),
        report.findings.len()
    );
    assert_eq!(
        body["summary"],
        serde_json::to_value(report.summary).unwrap()
    );
    assert!(body["audited_at"].is_string() && body["finished_at"].is_string());
    let csv = s3
        .get_object()
        .bucket(&bucket)
        .key(&stored.csv_key)
        .send()
        .await
        .unwrap();
    let csv = String::from_utf8(csv.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert_eq!(csv.lines().count(), report.findings.len() + 1);

    // The verdicts.
    let f = the_finding(&report, Kind::KmsKey, &fixed);
    assert_eq!(f.verdict, Verdict::NonCompliant);
    let fixed_id = hub_id(f, "kms-key");
    let e = the_finding(&report, Kind::KmsKey, &exempt);
    assert_eq!(e.verdict, Verdict::Exempt, "{e:#?}");
    assert!(
        e.reason.contains("rotated by the HSM team, ticket SEC-42") && e.reason.contains(&until),
        "{}",
        e.reason
    );
    assert!(report.summary.exempt >= 1);
    let p = the_finding(&report, Kind::Secret, &plain);
    assert_eq!(
        (p.verdict, p.reason.as_str()),
        (Verdict::NonCompliant, "rotation disabled")
    );
    let s = the_finding(&report, Kind::Secret, &stuck);
    assert_eq!(s.verdict, Verdict::NonCompliant, "{s:#?}");
    assert!(s.reason.contains("a rotation stopped"), "{}", s.reason);

    // Security Hub: one finding per resource, ASFF complete.
    let hub = export.security_hub.as_ref().expect("imported");
    assert_eq!(hub.failed, 0, "{hub:?}");
    assert!(hub.imported >= 4, "{hub:?}");
    let found = hub_findings(&fixed_id).await;
    assert_eq!(found.len(), 1);
    assert_asff(&found[0]);
    assert_eq!(
        found[0]
            .compliance()
            .and_then(|c| c.status())
            .map(|s| s.as_str()),
        Some("FAILED")
    );
    let found = hub_findings(&hub_id(e, "kms-key")).await;
    assert_asff(&found[0]);
    assert_eq!(
        (
            found[0]
                .compliance()
                .and_then(|c| c.status())
                .map(|s| s.as_str()),
            found[0]
                .workflow()
                .and_then(|w| w.status())
                .map(|s| s.as_str())
        ),
        (Some("WARNING"), Some("NEW")),
        "an exemption is an accepted risk, shown, never suppressed"
    );
    let hub_json = serde_json::to_value(hub).unwrap();
    assert_eq!(
        hub_json["reopened"], 0,
        "nothing was suppressed: {hub_json}"
    );
    assert_eq!(hub_json["reopen_failed"], 0, "{hub_json}");
    let found = hub_findings(&hub_id(p, "secret")).await;
    assert_asff(&found[0]);
    assert_eq!(
        found[0].resources()[0].r#type(),
        Some("AwsSecretsManagerSecret")
    );

    // Fixed between two runs: the same finding turns PASSED.
    enable_rotation(&kms, &fixed).await;
    let (auditor, _) = auditor_at(cfg, R, 0);
    let report = auditor.handle(scheduled_event()).await.unwrap();
    assert_eq!(
        the_finding(&report, Kind::KmsKey, &fixed).verdict,
        Verdict::Compliant
    );
    let found = hub_findings(&fixed_id).await;
    assert_eq!(found.len(), 1, "updated in place, not duplicated");
    assert_eq!(
        found[0]
            .compliance()
            .and_then(|c| c.status())
            .map(|s| s.as_str()),
        Some("PASSED")
    );
}
