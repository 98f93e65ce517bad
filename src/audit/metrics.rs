//! The audit function's metrics: one EMF document per region, counting verdicts and actions.

use super::report::Report;
use crate::emf::emf;
use serde_json::Value;
use std::collections::BTreeMap;

/// One EMF document per region: Compliant, NonCompliant, NotApplicable, Remediated, Swept,
/// Errors (ERROR findings and failed actions).
pub fn emf_documents(report: &Report, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
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

    #[test]
    fn emf_per_region_counts_verdicts_and_actions() {
        let docs = emf_documents(&sample(), "KeyRotation", 42);
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
}
