//! The audit's ERROR findings reach the alarm (template.yaml's AuditErrorFindingsAlarm): a full
//! audit whose KMS calls are denied emits `ErrorFindings` for the account (and in total, the
//! alarm's metric) and counts itself (`FullAudits`, AuditMissedAlarm's metric); an audit of
//! the one key an event named, failing the same way, adds to neither. Mocks, no moto.

use crate::common::audit::{cloudtrail_event, config};
use crate::common::ACCOUNT;
use crate::support::audit::*;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::list_keys::ListKeysError;
use aws_smithy_mocks::mock;
use serde_json::{json, Value};

fn denied_kms() -> RegionRules {
    RegionRules {
        kms: vec![
            mock!(aws_sdk_kms::Client::list_keys)
                .then_error(|| ListKeysError::generic(kms_error_meta("AccessDeniedException"))),
            mock!(aws_sdk_kms::Client::describe_key)
                .then_error(|| DescribeKeyError::generic(kms_error_meta("AccessDeniedException"))),
        ],
        iam: vec![list_users_rule(vec![]), account_summary_rule(None)],
        ..RegionRules::default()
    }
}

fn with(docs: &[Value], metric: &str) -> Vec<Value> {
    docs.iter()
        .filter(|d| d.get(metric).is_some())
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_error_finding_of_a_full_audit_produces_the_alarms_metric() {
    let cfg = || config(&[("AUDIT_REGIONS", "us-east-1")]);
    let (audit, emitted) = auditor(cfg(), vec![("us-east-1", denied_kms())], sts_rules(), NOW);
    let report = audit.handle(scheduled()).await.unwrap();
    assert!(report.summary.error >= 1, "{:#?}", report.findings);
    let docs = emitted.lock().unwrap().clone();
    let errors = with(&docs, "ErrorFindings");
    let per_account: Vec<&Value> = errors
        .iter()
        .filter(|d| d.get("Account").is_some())
        .collect();
    assert_eq!(per_account.len(), 1, "{docs:#?}");
    let doc = per_account[0];
    assert_eq!(doc["Account"], ACCOUNT);
    assert_eq!(doc["ErrorFindings"], json!(report.summary.error));
    // Recorded per account and without a dimension: the alarm watches the latter.
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Account"], []])
    );
    let runs = with(&docs, "FullAudits");
    assert_eq!(runs.len(), 1, "{docs:#?}");
    assert_eq!(runs[0]["FullAudits"], 1);

    // The same denial on the key a CloudTrail event named: an ERROR finding, no alarm metric.
    let (audit, emitted) = auditor(cfg(), vec![("us-east-1", denied_kms())], sts_rules(), NOW);
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let event = cloudtrail_event(
        "aws.kms",
        "EnableKeyRotation",
        "us-east-1",
        ACCOUNT,
        json!({ "keyId": key }),
        Value::Null,
    );
    let report = audit.handle(event).await.unwrap();
    assert!(report.summary.error >= 1, "{:#?}", report.findings);
    let docs = emitted.lock().unwrap().clone();
    assert!(
        with(&docs, "ErrorFindings").is_empty() && with(&docs, "FullAudits").is_empty(),
        "{docs:#?}"
    );
    assert!(
        !with(&docs, "Errors").is_empty(),
        "the per-region count stays"
    );
}
