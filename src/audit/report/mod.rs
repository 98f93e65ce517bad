//! The audit's output: the JSON report an invocation returns, a summary table and one structured
//! line per non-compliant or failed finding in the logs, and CloudWatch EMF metrics per region.

pub mod controls;
mod finding;
mod log;
mod outcome;

pub use finding::{
    Action, Finding, IamDetail, Kind, KmsDetail, GLOBAL, WOULD_DEACTIVATE, WOULD_DELETE,
};
pub use outcome::{ExportOutcome, HubOutcome, S3Outcome};

use super::verdict::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;

/// Lambda refuses a synchronous response over 6 MB; the report stays below this.
pub const MAX_REPORT_BYTES: usize = 5_500_000;
/// Findings per verdict; every verdict is always present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    #[serde(rename = "COMPLIANT")]
    pub compliant: usize,
    #[serde(rename = "NON_COMPLIANT")]
    pub non_compliant: usize,
    #[serde(rename = "NOT_APPLICABLE")]
    pub not_applicable: usize,
    #[serde(rename = "EXEMPT")]
    pub exempt: usize,
    #[serde(rename = "ERROR")]
    pub error: usize,
    /// Enabled customer-managed KMS keys without a recorded use for `KMS_UNUSED_DAYS` (present
    /// when not 0; not a verdict: these keys are counted under their verdict too).
    #[serde(rename = "KMS_UNUSED", skip_serializing_if = "is_zero")]
    pub kms_unused: usize,
}

impl Summary {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut s = Summary::default();
        for f in findings {
            s.add(f.verdict);
            s.kms_unused += usize::from(f.kms_unused());
        }
        s
    }

    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Compliant => self.compliant += 1,
            Verdict::NonCompliant => self.non_compliant += 1,
            Verdict::NotApplicable => self.not_applicable += 1,
            Verdict::Exempt => self.exempt += 1,
            Verdict::Error => self.error += 1,
        }
    }

    pub fn get(&self, v: Verdict) -> usize {
        match v {
            Verdict::Compliant => self.compliant,
            Verdict::NonCompliant => self.non_compliant,
            Verdict::NotApplicable => self.not_applicable,
            Verdict::Exempt => self.exempt,
            Verdict::Error => self.error,
        }
    }

    pub fn total(&self) -> usize {
        self.compliant + self.non_compliant + self.not_applicable + self.exempt + self.error
    }
}

/// What the audit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Actions {
    pub remediated: usize,
    pub remediation_failed: usize,
    pub swept: usize,
    pub sweep_failed: usize,
    /// Changes `SWEEP=report` describes and did not make.
    #[serde(skip_serializing_if = "is_zero")]
    pub sweep_report_only: usize,
}

/// How the audit went: AWS calls by operation, the most in flight at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub concurrency: usize,
    pub max_in_flight: usize,
    pub aws_calls: BTreeMap<String, u64>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub summary: Summary,
    /// `schedule`, `kms:EnableKeyRotation`, `KMS CMK Rotation`, `iam:CreateAccessKey`, ...
    pub trigger: String,
    pub audited_at: String,
    /// When the audit's work ended (before the export).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub finished_at: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub actions: Actions,
    pub stats: Stats,
    /// Honoured exemptions whose last day is at most 14 days ahead.
    pub exemptions_expiring_soon: usize,
    /// Every honoured exemption: the tagged resource, its reason and its last day.
    pub exemptions: Vec<ExemptionEntry>,
    /// For a batch of the event queue: how many records came, and what became of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventCounts>,
    /// Where the report went besides the invocation's result, and what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportOutcome>,
    /// COMPLIANT and NOT_APPLICABLE findings left out to keep the report under Lambda's
    /// response limit (the summary still counts them).
    #[serde(skip_serializing_if = "is_zero")]
    pub findings_omitted: usize,
    pub findings: Vec<Finding>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The records of an event-queue batch: `received` = `audited` targets' first records +
/// `duplicates` + `refused` + `nothing` (records of failed calls, with nothing to audit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    pub received: usize,
    /// Distinct keys and users audited (each once, whatever the number of events naming it).
    pub audited: usize,
    /// Records whose every key or user was already named earlier in the batch.
    pub duplicates: usize,
    /// Records refused (one ERROR finding each).
    pub refused: usize,
    /// Records of calls that failed and name nothing to audit.
    pub nothing: usize,
}

/// An honoured exemption, once per tagged resource: a KMS key, or an IAM user (whose EXEMPT
/// access keys it lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemptionEntry {
    /// `kms-key` or `iam-user`.
    pub kind: Kind,
    /// The key's ARN, or the user's name.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub reason: String,
    /// The last day it is honoured (`YYYY-MM-DD`, UTC).
    pub until: String,
    pub expires_in_days: i64,
    pub expiring_soon: bool,
    /// The user's access keys it exempts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_keys: Vec<String>,
}

/// The honoured exemptions behind `findings`, one per tagged resource.
pub(crate) fn exemptions_of(findings: &[Finding]) -> Vec<ExemptionEntry> {
    let mut by_resource: BTreeMap<(Kind, Option<String>, String), ExemptionEntry> = BTreeMap::new();
    for f in findings {
        let Some(e) = &f.exemption else { continue };
        let (kind, resource, region) = match (f.kind, f.user()) {
            (Kind::IamAccessKey, Some(user)) => (Kind::IamUser, user.to_owned(), None),
            _ => (f.kind, f.resource.clone(), f.region.clone()),
        };
        let entry = by_resource
            .entry((kind, f.account.clone(), resource.clone()))
            .or_insert_with(|| ExemptionEntry {
                kind,
                resource,
                account: f.account.clone(),
                region,
                reason: e.reason.clone(),
                until: e.until.clone(),
                expires_in_days: e.expires_in_days,
                expiring_soon: e.expiring_soon,
                access_keys: Vec::new(),
            });
        if kind == Kind::IamUser {
            entry.access_keys.push(f.resource.clone());
        }
    }
    by_resource.into_values().collect()
}

fn kind_order(f: &Finding) -> (Kind, &Option<String>, &Option<String>, Option<&str>, &str) {
    (f.kind, &f.account, &f.region, f.user(), &f.resource)
}

impl Report {
    pub fn new(
        trigger: String,
        audited_at: String,
        accounts: Vec<String>,
        regions: Vec<String>,
        mut findings: Vec<Finding>,
        stats: Stats,
    ) -> Self {
        findings.sort_by(|a, b| kind_order(a).cmp(&kind_order(b)));
        findings.iter_mut().for_each(Finding::map_controls);
        let mut actions = Actions::default();
        for a in findings.iter().filter_map(|f| f.action.as_ref()) {
            match (a.action, a.succeeded) {
                _ if !a.attempted() => actions.sweep_report_only += 1,
                ("EnableKeyRotation", true) => actions.remediated += 1,
                ("EnableKeyRotation", false) => actions.remediation_failed += 1,
                (_, true) => actions.swept += 1,
                (_, false) => actions.sweep_failed += 1,
            }
        }
        let exemptions = exemptions_of(&findings);
        Self {
            summary: Summary::of(&findings),
            exemptions_expiring_soon: exemptions.iter().filter(|e| e.expiring_soon).count(),
            exemptions,
            events: None,
            trigger,
            audited_at,
            finished_at: String::new(),
            accounts,
            regions,
            actions,
            stats,
            export: None,
            findings_omitted: 0,
            findings,
        }
    }

    /// Leaves out COMPLIANT, then NOT_APPLICABLE findings while the JSON is over `limit` bytes.
    /// Non-compliant and failed findings are always kept.
    pub fn fit_to(&mut self, limit: usize) {
        for drop in [Verdict::Compliant, Verdict::NotApplicable] {
            let size = serde_json::to_vec(self).map_or(0, |v| v.len());
            if size <= limit {
                return;
            }
            let before = self.findings.len();
            self.findings.retain(|f| f.verdict != drop);
            self.findings_omitted += before - self.findings.len();
        }
    }

    /// The findings of one kind and verdict, for tests and callers.
    pub fn findings_of(&self, kind: Kind) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.kind == kind)
    }

    /// Per region (IAM and account-level findings under `global`): verdict counts.
    pub fn by_region(&self) -> BTreeMap<String, Summary> {
        let mut m: BTreeMap<String, Summary> = BTreeMap::new();
        for f in &self.findings {
            m.entry(f.metric_region().to_owned())
                .or_default()
                .add(f.verdict);
        }
        m
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::verdict::Exemption;

    fn kms(resource: &str, region: &str, verdict: Verdict) -> Finding {
        Finding {
            account: Some("123456789012".into()),
            region: Some(region.into()),
            kms: Some(KmsDetail {
                key_id: resource.into(),
                remediable: verdict == Verdict::NonCompliant,
                ..KmsDetail::default()
            }),
            ..Finding::new(Kind::KmsKey, resource, verdict, "r")
        }
    }

    fn iam(key: &str, verdict: Verdict) -> Finding {
        Finding {
            account: Some("123456789012".into()),
            iam: Some(IamDetail {
                user: "alice".into(),
                ..IamDetail::default()
            }),
            ..Finding::new(Kind::IamAccessKey, key, verdict, "age 12 days")
        }
    }

    pub(crate) fn sample() -> Report {
        let mut remediated = kms("k2", "us-east-1", Verdict::NonCompliant);
        remediated.action = Some(Action {
            action: "EnableKeyRotation",
            succeeded: true,
            detail: "every 365 days".into(),
        });
        let mut failed_sweep = iam("AKIAOLD", Verdict::NotApplicable);
        failed_sweep.action = Some(Action {
            action: "DeleteAccessKey",
            succeeded: false,
            detail: "AccessDenied".into(),
        });
        Report::new(
            "schedule".into(),
            "2027-01-15T08:00:00Z".into(),
            vec!["123456789012".into()],
            vec!["us-east-1".into(), "eu-west-1".into()],
            vec![
                iam("AKIA1", Verdict::Compliant),
                kms("k1", "us-east-1", Verdict::Compliant),
                remediated,
                kms("k3", "eu-west-1", Verdict::NotApplicable),
                Finding::scope_error(
                    "kms:ListKeys",
                    Some("123456789012"),
                    Some("eu-west-1"),
                    "denied".into(),
                    Some("AccessDeniedException"),
                ),
                failed_sweep,
            ],
            Stats::default(),
        )
    }

    #[test]
    fn the_report_has_the_contract_shape() {
        let r = sample();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["summary"],
            serde_json::json!({"COMPLIANT": 2, "NON_COMPLIANT": 1, "NOT_APPLICABLE": 2, "EXEMPT": 0, "ERROR": 1})
        );
        let findings = v["findings"].as_array().unwrap();
        // Sorted: KMS keys, then IAM keys, then scope errors.
        assert_eq!(findings[0]["kind"], "kms-key");
        assert_eq!(findings.last().unwrap()["kind"], "scope");
        let k = findings.iter().find(|f| f["resource"] == "k2").unwrap();
        assert_eq!(k["account"], "123456789012");
        assert_eq!(k["region"], "us-east-1");
        assert_eq!(k["verdict"], "NON_COMPLIANT");
        assert_eq!(k["remediable"], true);
        assert!(k.get("managed_by").is_none() && k.get("user").is_none());
        let i = findings.iter().find(|f| f["resource"] == "AKIA1").unwrap();
        assert_eq!(i["kind"], "iam-access-key");
        assert_eq!(i["user"], "alice");
        assert_eq!(i["managed_by"], serde_json::Value::Null);
        assert!(i.get("region").is_none() && i.get("remediable").is_none());
        // Every resource finding names its Security Hub control and CIS requirements.
        assert_eq!(k["security_hub_control"], "KMS.4");
        assert_eq!(
            k["cis_requirements"],
            serde_json::json!([
                "CIS AWS Foundations Benchmark v3.0.0/3.6",
                "CIS AWS Foundations Benchmark v5.0.0/3.6"
            ])
        );
        assert_eq!(i["security_hub_control"], "IAM.3");
        let scope = findings.last().unwrap();
        assert!(
            scope.get("security_hub_control").is_none() && scope.get("cis_requirements").is_none()
        );
        assert_eq!(
            r.actions,
            Actions {
                remediated: 1,
                remediation_failed: 0,
                swept: 0,
                sweep_failed: 1,
                sweep_report_only: 0
            }
        );
        assert!(v.get("findings_omitted").is_none());
    }

    #[test]
    fn the_summary_table_has_a_row_per_scope_and_a_total() {
        let t = sample().summary_table();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("(schedule): 6 findings"), "{t}");
        assert!(
            lines.iter().any(|l| l.starts_with("123456789012")
                && l.contains("us-east-1")
                && l.contains("kms-key")),
            "{t}"
        );
        let total = lines.iter().find(|l| l.starts_with("total")).unwrap();
        let numbers: Vec<&str> = total.split_whitespace().skip(1).collect();
        assert_eq!(numbers, ["2", "1", "2", "0", "1"], "{t}");
        assert!(
            t.contains("remediated 1 (failed 0), swept 0 (failed 1)"),
            "{t}"
        );
    }

    #[test]
    fn honoured_exemptions_are_listed_once_per_tagged_resource_and_counted_when_expiring_soon() {
        let exempt = |mut f: Finding, until: &str, days: i64| {
            f.verdict = Verdict::Exempt;
            f.exemption = Some(Exemption {
                reason: "SEC-42".into(),
                until: until.into(),
                expires_in_days: days,
                expiring_soon: days <= 14,
            });
            f
        };
        let r = Report::new(
            "schedule".into(),
            "2027-01-15T08:00:00Z".into(),
            vec!["123456789012".into()],
            vec!["us-east-1".into()],
            vec![
                exempt(
                    kms("k1", "us-east-1", Verdict::NonCompliant),
                    "2027-06-30",
                    166,
                ),
                // Two keys of one exempt user: one exemption.
                exempt(iam("AKIA1", Verdict::NonCompliant), "2027-01-20", 5),
                exempt(iam("AKIA2", Verdict::NonCompliant), "2027-01-20", 5),
                kms("k2", "us-east-1", Verdict::NonCompliant),
            ],
            Stats::default(),
        );
        assert_eq!(r.summary.exempt, 3);
        assert_eq!(r.exemptions_expiring_soon, 1);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["exemptions_expiring_soon"], 1);
        assert_eq!(
            v["exemptions"],
            serde_json::json!([
                {"kind": "kms-key", "resource": "k1", "account": "123456789012",
                 "region": "us-east-1", "reason": "SEC-42", "until": "2027-06-30",
                 "expires_in_days": 166, "expiring_soon": false},
                {"kind": "iam-user", "resource": "alice", "account": "123456789012",
                 "reason": "SEC-42", "until": "2027-01-20", "expires_in_days": 5,
                 "expiring_soon": true, "access_keys": ["AKIA1", "AKIA2"]},
            ])
        );
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["resource"] == "AKIA1")
            .unwrap();
        assert_eq!(f["exemption"]["expiring_soon"], true);
        assert_eq!(f["exemption"]["until"], "2027-01-20");
        let k2 = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["resource"] == "k2")
            .unwrap();
        assert!(k2.get("exemption").is_none());
        assert!(r
            .summary_table()
            .contains("exemptions 2 (expiring within 14 days 1)"));
        // None honoured: an empty list and a zero count, still present.
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["exemptions"], serde_json::json!([]));
        assert_eq!(v["exemptions_expiring_soon"], 0);
    }

    #[test]
    fn an_oversized_report_drops_compliant_then_not_applicable_findings() {
        let mut r = sample();
        let full = serde_json::to_vec(&r).unwrap().len();
        r.fit_to(full);
        assert_eq!(r.findings_omitted, 0);
        r.fit_to(full - 1);
        assert_eq!(r.findings_omitted, 2);
        assert!(r.findings.iter().all(|f| f.verdict != Verdict::Compliant));
        r.fit_to(10);
        assert_eq!(r.findings_omitted, 4);
        assert!(r
            .findings
            .iter()
            .all(|f| matches!(f.verdict, Verdict::NonCompliant | Verdict::Error)));
        // The summary still counts everything.
        assert_eq!(r.summary.total(), 6);
    }
}
