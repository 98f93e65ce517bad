//! The audit function's metrics: one EMF document per region, counting verdicts and actions;
//! and, from full audits only (the schedule and the fan-out's accounts, never an audit of one
//! key or user an event named), the findings per account and per kind, the replaced keys still
//! retiring, and the run's duration and coverage.

use super::report::{Finding, Kind, Report};
use super::verdict::Verdict;
use crate::emf::{emf, emf_sets, COUNT, MILLISECONDS};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `Account` dimension of findings that name no account.
pub const UNKNOWN_ACCOUNT: &str = "unknown";

/// The verdict counts of a full audit's per-account and per-kind documents, in this order:
/// COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, EXEMPT, ERROR.
pub const FINDING_METRICS: [&str; 5] = [
    "Compliant",
    "NonCompliant",
    "NotApplicable",
    "Exempt",
    "ErrorFindings",
];

/// What marks the reason of an Active replaced key (`verdict::sweep::judge_replaced_key`).
const REPLACED_MARK: &str = " by a rotation of secret ";

/// Whether a report's trigger (`Trigger::describe`) is a full audit: the schedule, or accounts
/// the fan-out queued (each audited in full).
pub fn is_full_audit(trigger: &str) -> bool {
    trigger == "schedule" || trigger.starts_with("fan-out (")
}

/// One EMF document per region: Compliant, NonCompliant, NotApplicable, Remediated, Swept,
/// Errors (ERROR findings and failed actions); for a full audit, [`full_audit_documents`] too.
pub fn emf_documents(report: &Report, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
    let mut docs = region_documents(report, namespace, timestamp_ms);
    if is_full_audit(&report.trigger) {
        docs.extend(full_audit_documents(report, namespace, timestamp_ms));
    }
    docs
}

fn verdict_counts(findings: &[&Finding]) -> Vec<(&'static str, u64, &'static str)> {
    let verdicts = [
        Verdict::Compliant,
        Verdict::NonCompliant,
        Verdict::NotApplicable,
        Verdict::Exempt,
        Verdict::Error,
    ];
    verdicts
        .iter()
        .zip(FINDING_METRICS)
        .map(|(v, name)| {
            let n = findings.iter().filter(|f| f.verdict == *v).count();
            (name, n as u64, COUNT)
        })
        .collect()
}

/// A full audit's documents: per account (and in total, without a dimension) the findings by
/// verdict, `ErrorFindings` being what the ERROR alarm watches; per kind the same counts; and
/// one run document: `FullAudits` (1, which the missed-audit alarm expects daily),
/// `AccountsAudited`, `RegionsAudited`, `AuditDurationMs`, and the Active replaced keys
/// retiring inside their window (`ReplacedKeysRetiring`) or past it (`ReplacedKeysOverdue`).
pub fn full_audit_documents(report: &Report, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
    let mut by_account: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        by_account
            .entry(f.account.as_deref().unwrap_or(UNKNOWN_ACCOUNT))
            .or_default()
            .push(f);
        by_kind.entry(f.kind.as_str()).or_default().push(f);
    }
    let mut docs: Vec<Value> = by_account
        .iter()
        .map(|(account, findings)| {
            emf_sets(
                namespace,
                timestamp_ms,
                &[&["Account"], &[]],
                &[("Account", account)],
                &verdict_counts(findings),
            )
        })
        .collect();
    docs.extend(by_kind.iter().map(|(kind, findings)| {
        emf_sets(
            namespace,
            timestamp_ms,
            &[&["Kind"]],
            &[("Kind", kind)],
            &verdict_counts(findings),
        )
    }));
    let replaced = |v: Verdict| {
        report
            .findings
            .iter()
            .filter(|f| {
                f.kind == Kind::IamAccessKey
                    && f.verdict == v
                    && f.iam.as_ref().and_then(|d| d.status.as_deref()) == Some("Active")
                    && f.reason.contains(REPLACED_MARK)
            })
            .count() as u64
    };
    docs.push(emf_sets(
        namespace,
        timestamp_ms,
        &[&[]],
        &[],
        &[
            ("FullAudits", 1, COUNT),
            ("AccountsAudited", report.accounts.len() as u64, COUNT),
            ("RegionsAudited", report.regions.len() as u64, COUNT),
            ("AuditDurationMs", report.stats.duration_ms, MILLISECONDS),
            ("ReplacedKeysRetiring", replaced(Verdict::Compliant), COUNT),
            (
                "ReplacedKeysOverdue",
                replaced(Verdict::NonCompliant),
                COUNT,
            ),
        ],
    ));
    docs
}

fn region_documents(report: &Report, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
    let mut acted: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for f in &report.findings {
        if let Some(a) = f.action.as_ref().filter(|a| a.attempted()) {
            let e = acted.entry(f.metric_region()).or_default();
            match (a.action, a.succeeded) {
                (_, false) => e.2 += 1,
                ("EnableKeyRotation", true) => e.0 += 1,
                (_, true) => e.1 += 1,
            }
        }
    }
    report
        .by_region()
        .iter()
        .map(|(region, s)| {
            let (remediated, swept, failed) =
                acted.get(region.as_str()).copied().unwrap_or_default();
            emf(
                namespace,
                timestamp_ms,
                &[("Region", region)],
                &[
                    ("Compliant", s.compliant as u64),
                    ("NonCompliant", s.non_compliant as u64),
                    ("NotApplicable", s.not_applicable as u64),
                    ("Exempt", s.exempt as u64),
                    ("Remediated", remediated),
                    ("Swept", swept),
                    ("Errors", s.error as u64 + failed),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::tests::sample;
    use serde_json::json;

    #[test]
    fn emf_per_region_counts_verdicts_and_actions() {
        let docs = region_documents(&sample(), "KeyRotation", 42);
        let by_region: BTreeMap<String, &Value> = docs
            .iter()
            .map(|d| (d["Region"].as_str().unwrap().to_owned(), d))
            .collect();
        assert_eq!(
            by_region.keys().collect::<Vec<_>>(),
            ["eu-west-1", "global", "us-east-1"]
        );
        let us = by_region["us-east-1"];
        assert_eq!(
            (
                us["Compliant"].as_u64(),
                us["NonCompliant"].as_u64(),
                us["Remediated"].as_u64()
            ),
            (Some(1), Some(1), Some(1))
        );
        let eu = by_region["eu-west-1"];
        assert_eq!(
            (eu["NotApplicable"].as_u64(), eu["Errors"].as_u64()),
            (Some(1), Some(1))
        );
        // The failed sweep counts as an error in the global (IAM) region.
        let global = by_region["global"];
        assert_eq!(
            (
                global["Compliant"].as_u64(),
                global["Errors"].as_u64(),
                global["Swept"].as_u64()
            ),
            (Some(1), Some(1), Some(0))
        );
        for d in &docs {
            assert_eq!(
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
                "Region"
            );
            for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
            {
                assert!(d.get(m["Name"].as_str().unwrap()).is_some());
            }
        }
    }

    fn declared(doc: &Value) -> (Vec<Value>, Vec<String>) {
        let decl = &doc["_aws"]["CloudWatchMetrics"][0];
        let sets = decl["Dimensions"].as_array().unwrap().clone();
        let names = decl["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect();
        (sets, names)
    }

    /// A full audit counts its findings per account (and in total: the ERROR alarm's
    /// `ErrorFindings` without a dimension) and per kind, and says it ran; an audit of what one
    /// event named adds nothing to them.
    #[test]
    fn full_audits_alone_count_findings_per_account_and_kind() {
        let report = sample();
        let docs = emf_documents(&report, "KeyRotation", 42);
        let account: Vec<&Value> = docs.iter().filter(|d| d.get("Account").is_some()).collect();
        assert_eq!(account.len(), 1, "{docs:?}");
        let a = account[0];
        assert_eq!(a["Account"], "123456789012");
        assert_eq!(
            declared(a),
            (
                vec![json!(["Account"]), json!([])],
                FINDING_METRICS.map(String::from).to_vec()
            )
        );
        // The scope error (kms:ListKeys denied in eu-west-1) is the account's one ERROR.
        assert_eq!(
            FINDING_METRICS.map(|m| a[m].as_u64().unwrap()),
            [2, 1, 2, 0, 1]
        );
        let kinds: BTreeMap<&str, &Value> = docs
            .iter()
            .filter_map(|d| Some((d.get("Kind")?.as_str()?, d)))
            .collect();
        assert_eq!(
            kinds.keys().copied().collect::<Vec<_>>(),
            ["iam-access-key", "kms-key", "scope"]
        );
        assert_eq!(declared(kinds["kms-key"]).0, vec![json!(["Kind"])]);
        assert_eq!(kinds["kms-key"]["NonCompliant"], 1);
        assert_eq!(kinds["scope"]["ErrorFindings"], 1);
        let run: Vec<&Value> = docs
            .iter()
            .filter(|d| d.get("FullAudits").is_some())
            .collect();
        assert_eq!(run.len(), 1);
        let run = run[0];
        assert_eq!(declared(run).0, vec![json!([])]);
        assert_eq!(
            (
                run["FullAudits"].as_u64(),
                run["AccountsAudited"].as_u64(),
                run["RegionsAudited"].as_u64()
            ),
            (Some(1), Some(1), Some(2))
        );
        assert_eq!(
            run["_aws"]["CloudWatchMetrics"][0]["Metrics"][3],
            json!({"Name": "AuditDurationMs", "Unit": "Milliseconds"})
        );
        for d in &docs {
            for m in declared(d).1 {
                assert!(d.get(&m).is_some(), "{m} declared but absent: {d}");
            }
        }
        // The same findings from an audit of one key an event named: per region only.
        let mut event = sample();
        event.trigger = "kms:EnableKeyRotation".into();
        let docs = emf_documents(&event, "KeyRotation", 42);
        assert!(docs.iter().all(|d| d.get("Region").is_some()), "{docs:?}");
    }

    /// What `is_full_audit` reads is what the triggers of a full audit describe themselves as.
    #[test]
    fn full_audits_are_the_schedule_and_the_fan_out() {
        use crate::audit::events::Trigger;
        assert!(is_full_audit(&Trigger::Full.describe()));
        assert!(is_full_audit(
            &Trigger::Accounts {
                accounts: vec!["111122223333".into()]
            }
            .describe()
        ));
        for cause in [
            "kms:EnableKeyRotation",
            "iam:CreateAccessKey",
            "KMS CMK Rotation",
        ] {
            assert!(!is_full_audit(
                &Trigger::Nothing {
                    cause: cause.into(),
                    why: "-".into()
                }
                .describe()
            ));
        }
        // A batch of the Organization's events, however large, is no full audit.
        let batch = crate::audit::events::EventBatch {
            received: 100,
            ..Default::default()
        };
        assert!(!is_full_audit(&Trigger::Events(batch).describe()));
    }

    /// An Active replaced key counts as retiring inside its window, as overdue after it.
    #[test]
    fn replaced_keys_retiring_and_overdue() {
        use crate::audit::report::IamDetail;
        use crate::audit::verdict::sweep::{
            judge_replaced_key, Consumers, Retiring, SweepPolicy, Switch, SwitchSource,
        };
        use crate::aws::iam::AccessKey;
        const DAY: i64 = 86_400;
        let now = 1_800_000_000;
        let policy = SweepPolicy {
            idle_secs: DAY,
            grace_days: 7,
            max_wait_days: 7,
            force_days: 30,
            now,
        };
        let key = AccessKey {
            user: "alice".into(),
            id: "AKIAOLD".into(),
            status: "Active".into(),
            created: Some(now - 90 * DAY),
        };
        let finding = |days_since_switch: i64| {
            let switch = now - days_since_switch * DAY;
            let retiring = Retiring {
                secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf".into(),
                switch: Switch {
                    at: switch,
                    source: SwitchSource::Recorded,
                },
                consumers: Consumers::Waiting,
                idle_since: switch,
                retire: None,
                max_wait_until: switch + 7 * DAY,
                hard_stop: switch + 30 * DAY,
                hard_stop_tomorrow: false,
            };
            let j = judge_replaced_key(&key, &retiring, &policy);
            Finding {
                account: Some("123456789012".into()),
                iam: Some(IamDetail {
                    user: "alice".into(),
                    status: Some("Active".into()),
                    ..IamDetail::default()
                }),
                ..Finding::new(Kind::IamAccessKey, "AKIAOLD", j.verdict, j.reason)
            }
        };
        let mut report = sample();
        report.findings = vec![finding(1), finding(2), finding(10)];
        let docs = full_audit_documents(&report, "KeyRotation", 42);
        let run = docs.iter().find(|d| d.get("FullAudits").is_some()).unwrap();
        assert_eq!(run["ReplacedKeysRetiring"], 2, "{run}");
        assert_eq!(run["ReplacedKeysOverdue"], 1, "{run}");
    }
}
