//! Where the report goes besides the invocation's result (which a scheduled, asynchronous
//! invocation throws away): one JSON object and a CSV beside it per run in S3, and one ASFF
//! finding per resource in Security Hub. A failure to store or import is logged and counted in
//! the report; it never loses the findings, which the invocation still returns.

pub use super::report::{ExportOutcome, HubOutcome, S3Outcome};
use super::report::{Finding, Kind, Report};
use super::verdict::Verdict;
use crate::aws::s3::S3;
use crate::aws::securityhub::{self, HubFinding, Level, SecurityHub, Status};
use std::collections::BTreeMap;
use tracing::{info, warn};

/// ASFF's schema version.
pub const SCHEMA_VERSION: &str = securityhub::SCHEMA_VERSION;
/// Security Hub takes at most this many findings per BatchImportFindings (and
/// BatchUpdateFindings) call.
pub const BATCH: usize = 100;
/// Every ASFF `GeneratorId` of this audit begins so.
pub const GENERATOR_PREFIX: &str = "aws-key-rotation/";
/// Findings a batch failed to import are sent again this many times.
const RETRIES: usize = 2;

/// The S3 key of a run's report: date-partitioned for Athena (`year=/month=/day=`), then the
/// run's time and id.
pub fn object_key(prefix: &str, audited_at: &str, run_id: &str) -> String {
    let date = audited_at.get(..10).unwrap_or("0000-00-00");
    let (y, m, d) = (&date[..4], &date[5..7], &date[8..10]);
    let time: String = audited_at
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{prefix}year={y}/month={m}/day={d}/{time}-{run_id}.json")
}

/// A CSV cell a spreadsheet shows as text: one that begins with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be read as a formula (CSV injection), so it gets a leading `'`. Cells
/// carry free text others write: KMS tag values, IAM user names, secret names.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    // Spreadsheets trim some leading blanks before they look for a formula.
    let first = value.trim_start_matches([' ', '\u{a0}', '\u{3000}']);
    if first.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The findings as CSV, one row per finding, every cell neutralised ([`csv_cell`]).
pub fn csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "kind",
        "resource",
        "account",
        "region",
        "verdict",
        "reason",
        "user",
        "managed_by",
        "action",
        "action_succeeded",
        "security_hub_control",
        "cis_requirements",
    ])?;
    for f in &report.findings {
        let action = f.action.as_ref();
        let cis = f.cis_requirements.join("; ");
        w.write_record(
            [
                f.kind.as_str(),
                &f.resource,
                f.account.as_deref().unwrap_or(""),
                f.region.as_deref().unwrap_or(""),
                f.verdict.as_str(),
                &f.reason,
                f.user().unwrap_or(""),
                f.managed_by().unwrap_or(""),
                action.map_or("", |a| a.action),
                action.map_or("", |a| if a.succeeded { "true" } else { "false" }),
                f.security_hub_control.unwrap_or(""),
                &cis,
            ]
            .map(csv_cell)
            .iter()
            .map(|c| c.as_ref()),
        )?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// Stores the report (JSON) and its CSV in `bucket`, which must belong to `expected_owner` (the
/// function's own account; `Err`: why it is unknown, and then nothing is written).
pub async fn store(
    s3: &S3,
    bucket: &str,
    expected_owner: Result<&str, String>,
    prefix: &str,
    report: &Report,
    run_id: &str,
) -> S3Outcome {
    let key = object_key(prefix, &report.audited_at, run_id);
    let csv_key = key.replace(".json", ".csv");
    let mut out = S3Outcome {
        bucket: bucket.to_owned(),
        key: key.clone(),
        csv_key: csv_key.clone(),
        ..S3Outcome::default()
    };
    let owner = match expected_owner {
        Ok(owner) => owner,
        Err(why) => {
            warn!(bucket, why = %why, "the audit report is not stored: the bucket's expected owner is unknown");
            out.error = Some(format!(
                "not stored: the function's own account, the bucket's expected owner, cannot be identified ({why})"
            ));
            return out;
        }
    };
    let json = match serde_json::to_vec(report) {
        Ok(j) => j,
        Err(e) => {
            out.error = Some(format!("the report cannot be serialised: {e}"));
            return out;
        }
    };
    let csv = csv(report).unwrap_or_default();
    for (k, body, content_type) in [
        (&key, json, "application/json"),
        (&csv_key, csv, "text/csv"),
    ] {
        let result = s3.put_object(bucket, owner, k, body, content_type).await;
        if let Err(e) = result {
            warn!(bucket, key = %k, error = %e, "the audit report could not be stored");
            out.error = Some(format!(
                "s3:PutObject {k}: {}",
                e.code.as_deref().unwrap_or("failed")
            ));
            return out;
        }
    }
    info!(bucket, key = %key, "audit report stored");
    out.stored = true;
    out
}

/// Where a finding goes in Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HubTarget {
    pub account: String,
    pub region: String,
}

/// The resources Security Hub gets a finding for: KMS keys, access keys, secrets (not the
/// scope errors or vanished users, which are about the audit, not a resource).
pub fn exported(f: &Finding) -> bool {
    matches!(f.kind, Kind::KmsKey | Kind::IamAccessKey | Kind::Secret) && f.account.is_some()
}

/// The partition of an ARN-bearing finding (`aws` when the resource is not an ARN).
fn partition_of(resource: &str) -> &str {
    crate::arn::Arn::parse(resource).map_or("aws", |a| a.partition)
}

/// A finding's partition: the resource's own, or (for an access key) its managing secret's.
fn partition_for(f: &Finding) -> &str {
    match f.kind {
        Kind::IamAccessKey => f.managed_by().map_or("aws", partition_of),
        _ => partition_of(&f.resource),
    }
}

/// The ASFF `Id` of a resource's finding: stable, so the next run updates it in place.
pub fn hub_id(f: &Finding, home_region: &str) -> Option<String> {
    let account = f.account.as_deref()?;
    let region = f.region.as_deref().unwrap_or(home_region);
    Some(format!(
        "arn:{}:securityhub:{region}:{account}:aws-key-rotation/{}/{}",
        partition_for(f),
        f.kind.as_str(),
        f.resource
    ))
}

/// The Security Hub finding of one resource (sent as ASFF). Its `Id` is stable per resource, so
/// the next run updates it in place.
pub fn hub_finding(f: &Finding, home_region: &str, now: &str) -> Option<HubFinding> {
    let account = f.account.as_deref()?;
    let region = f.region.as_deref().unwrap_or(home_region);
    let partition = partition_for(f);
    let (resource_type, title) = match f.kind {
        Kind::KmsKey => ("AwsKmsKey", "KMS key rotation"),
        Kind::IamAccessKey => ("AwsIamAccessKey", "IAM access key age"),
        Kind::Secret => ("AwsSecretsManagerSecret", "Secrets Manager secret rotation"),
        _ => return None,
    };
    let (status, level) = match f.verdict {
        Verdict::Compliant => (Status::Passed, Level::Informational),
        Verdict::NonCompliant => (
            Status::Failed,
            if f.user() == Some("<root_account>") {
                Level::Critical
            } else if f.kms_unused_since_tracking() && f.kms_unused() {
                // A key nothing has used since KMS began tracking it, for KMS_UNUSED_DAYS at least,
                // protects little data (a key merely new is not yet judged by its use).
                Level::Low
            } else {
                Level::Medium
            },
        ),
        // An exemption is an accepted risk, shown as such and never hidden (CONTRACT §5).
        Verdict::Exempt => (Status::Warning, Level::Medium),
        Verdict::NotApplicable => (Status::NotAvailable, Level::Informational),
        Verdict::Error => (Status::NotAvailable, Level::Low),
    };
    let mut description = format!("{}: {}", f.verdict.as_str(), f.reason);
    if description.len() > 1024 {
        let mut end = 1021;
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        description.truncate(end);
        description.push_str("...");
    }
    Some(HubFinding {
        id: hub_id(f, home_region)?,
        product_arn: format!(
            "arn:{partition}:securityhub:{region}:{account}:product/{account}/default"
        ),
        generator_id: format!("{GENERATOR_PREFIX}{}", f.kind.as_str()),
        account: account.to_owned(),
        region: region.to_owned(),
        partition: partition.to_owned(),
        resource_type,
        resource_id: f.resource.clone(),
        security_control: f.controls().map(|c| c.security_hub),
        related_requirements: f.controls().map_or(&[], |c| c.cis),
        title,
        description,
        status,
        level,
        // Never SUPPRESSED: Security Hub stops updating a suppressed finding, so no later run
        // could show the exemption's expiry or the resource's next state. (Security Hub takes
        // the workflow status of a finding's first import only; [`reopen_suppressed`] undoes an
        // earlier suppression.)
        resolved: status == Status::Passed,
        now: now.to_owned(),
    })
}

/// Imports `findings` in batches of [`BATCH`], sending again those a batch failed to import
/// (up to [`RETRIES`] more times). Each batch is turned into ASFF just before it is sent: an ASFF
/// finding is a large value (about 30 KiB), and 10,000 of them at once would not fit the
/// function's memory.
pub async fn import(
    hub: &SecurityHub,
    findings: &[&Finding],
    home_region: &str,
    now: &str,
    out: &mut HubOutcome,
) {
    let mut pending: Vec<&Finding> = findings.to_vec();
    for attempt in 0..=RETRIES {
        if pending.is_empty() {
            return;
        }
        let mut again = Vec::new();
        for batch in pending.chunks(BATCH) {
            let hub_findings: Vec<HubFinding> = batch
                .iter()
                .filter_map(|f| hub_finding(f, home_region, now))
                .collect();
            out.calls += 1;
            match hub.batch_import(&hub_findings).await {
                Ok(answer) => {
                    out.imported += answer.succeeded;
                    for (id, code) in answer.failed {
                        let source = batch
                            .iter()
                            .find(|f| hub_id(f, home_region).as_deref() == Some(id.as_str()));
                        if let (Some(f), true) = (source, attempt < RETRIES) {
                            again.push(*f);
                            continue;
                        }
                        out.failed += 1;
                        out.error(format!("{id}: {code}"));
                    }
                }
                Err(e) => {
                    warn!(error = %e, findings = batch.len(), "BatchImportFindings failed");
                    if attempt < RETRIES && e.retryable {
                        again.extend(batch.iter().copied());
                    } else {
                        out.failed += batch.len();
                        out.error(format!(
                            "BatchImportFindings: {}",
                            e.code.as_deref().unwrap_or("failed")
                        ));
                    }
                }
            }
        }
        pending = again;
    }
}

/// Sets back to NEW the findings among `findings` (those of one account and region, just
/// imported) that Security Hub holds as SUPPRESSED: BatchImportFindings cannot change the
/// workflow status of an existing finding, and Security Hub no longer updates a suppressed one,
/// so an exemption this audit once imported as SUPPRESSED (or a suppression made in the
/// console) would hide the resource for good, its expiry and every later verdict included.
/// Exemptions are the `KeyRotationExempt` tag, with an expiry, and stay visible. One GetFindings
/// (this audit's suppressed findings, usually none), then BatchUpdateFindings per 100 of this
/// run's; other findings are never touched.
pub async fn reopen_suppressed(
    hub: &SecurityHub,
    findings: &[&Finding],
    home_region: &str,
    out: &mut HubOutcome,
) {
    let ids: std::collections::BTreeSet<String> = findings
        .iter()
        .filter_map(|f| hub_id(f, home_region))
        .collect();
    if ids.is_empty() {
        return;
    }
    let suppressed = match hub.suppressed(GENERATOR_PREFIX).await {
        Ok(found) => found,
        Err(e) => {
            warn!(error = %e, "suppressed findings cannot be looked up; a finding suppressed earlier stays hidden");
            out.reopen_failed += 1;
            out.error(format!(
                "GetFindings: {}",
                e.code.as_deref().unwrap_or("failed")
            ));
            return;
        }
    };
    let ours: Vec<securityhub::FindingRef> = suppressed
        .into_iter()
        .filter(|f| ids.contains(&f.id))
        .collect();
    for batch in ours.chunks(BATCH) {
        match hub.reopen(batch).await {
            Ok(answer) => {
                for f in batch
                    .iter()
                    .filter(|f| !answer.unprocessed.iter().any(|(id, _)| *id == f.id))
                {
                    warn!(finding_id = %f.id, "finding was SUPPRESSED in Security Hub, where no later audit could update it: workflow set back to NEW");
                }
                out.reopened += answer.processed;
                out.reopen_failed += answer.unprocessed.len();
                for (id, code) in answer.unprocessed {
                    out.error(format!("{id}: {code} (BatchUpdateFindings)"));
                }
            }
            Err(e) => {
                warn!(error = %e, findings = batch.len(), "BatchUpdateFindings failed");
                out.reopen_failed += batch.len();
                out.error(format!(
                    "BatchUpdateFindings: {}",
                    e.code.as_deref().unwrap_or("failed")
                ));
            }
        }
    }
}

/// Groups the exported findings by the account and region whose Security Hub receives them.
pub fn by_target<'a>(
    findings: &'a [Finding],
    home_region: &str,
) -> BTreeMap<HubTarget, Vec<&'a Finding>> {
    let mut out: BTreeMap<HubTarget, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| exported(f)) {
        let target = HubTarget {
            account: f.account.clone().unwrap_or_default(),
            region: f.region.clone().unwrap_or_else(|| home_region.to_owned()),
        };
        out.entry(target).or_default().push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        for (cell, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+2", "'+1+2"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("rotation disabled", "rotation disabled"),
            ("a=1", "a=1"),
            (" =1+1", "' =1+1"),
            ("\u{a0}=1+1", "'\u{a0}=1+1"),
            ("\u{3000}@SUM(A1)", "'\u{3000}@SUM(A1)"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn the_report_csv_carries_free_text_as_text() {
        // The reason carries a KMS tag value (an exemption's), the user name is free text too.
        let mut f = Finding::new(
            Kind::IamAccessKey,
            "AKIAEXAMPLE",
            Verdict::Exempt,
            "=cmd|' /C calc'!A0",
        );
        f.iam = Some(super::super::report::IamDetail {
            user: "@evil".into(),
            ..Default::default()
        });
        let report = Report::new(
            "schedule".into(),
            "2027-01-15T08:00:00Z".into(),
            Vec::new(),
            Vec::new(),
            vec![f],
            Default::default(),
        );
        let text = String::from_utf8(csv(&report).unwrap()).unwrap();
        let mut rows = ::csv::Reader::from_reader(text.as_bytes());
        let row = rows.records().next().unwrap().unwrap();
        assert_eq!(&row[5], "'=cmd|' /C calc'!A0", "{text}");
        assert_eq!(&row[6], "'@evil", "{text}");
    }

    #[test]
    fn object_keys_are_date_partitioned() {
        assert_eq!(
            object_key("key-rotation/", "2027-01-15T08:00:00Z", "abc"),
            "key-rotation/year=2027/month=01/day=15/20270115T080000Z-abc.json"
        );
    }
}
