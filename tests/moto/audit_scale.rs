//! A full audit of a region with more KMS keys than one ListKeys page holds (1,000) on moto: every
//! key gets exactly one finding, and the audit keeps at most AUDIT_CONCURRENCY calls in flight
//! while actually using them. (The bench audits 10,000 keys; here what counts is a second page
//! and a bounded concurrency, and moto spends ~30 ms on each key it makes.)

use crate::common::audit::*;
use crate::common::moto::*;
use aws_key_rotation::audit::report::Kind;
use aws_key_rotation::audit::verdict::Verdict;
use futures::stream::{self, StreamExt};
use std::collections::BTreeSet;
use std::time::Instant;

const KEYS: usize = 1_200;
const REGION: &str = "ca-central-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_with_more_keys_than_a_page_is_audited_completely() {
    let kms = kms(REGION);
    let seeding = Instant::now();
    // Every other key has rotation on.
    let created: Vec<(String, bool)> = stream::iter(0..KEYS)
        .map(|i| {
            let kms = kms.clone();
            async move {
                let (id, _) = create_key(&kms, SYMMETRIC).await;
                let on = i % 2 == 0;
                if on {
                    enable_rotation(&kms, &id).await;
                }
                (id, on)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let seeded_in = seeding.elapsed();
    let rotating: BTreeSet<&str> = created
        .iter()
        .filter(|(_, on)| *on)
        .map(|(id, _)| id.as_str())
        .collect();
    let ids: BTreeSet<&str> = created.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), KEYS);

    let cfg = config(&[("AUDIT_REGIONS", REGION), ("AUDIT_CONCURRENCY", "16")]);
    let (auditor, _) = auditor_at(cfg, REGION, 0);
    let auditing = Instant::now();
    let report = auditor.handle(scheduled_event()).await.unwrap();
    let audited_in = auditing.elapsed();

    let kms_findings: Vec<_> = report
        .findings_of(Kind::KmsKey)
        .filter(|f| f.region.as_deref() == Some(REGION))
        .collect();
    let seen: BTreeSet<&str> = kms_findings
        .iter()
        .map(|f| f.kms.as_ref().unwrap().key_id.as_str())
        .collect();
    assert_eq!(kms_findings.len(), KEYS, "one finding per key");
    assert_eq!(seen, ids, "the findings are exactly the keys of the region");
    for f in &kms_findings {
        let id = f.kms.as_ref().unwrap().key_id.as_str();
        let expected = if rotating.contains(id) {
            Verdict::Compliant
        } else {
            Verdict::NonCompliant
        };
        assert_eq!(f.verdict, expected, "{f:#?}");
    }
    assert!(
        report.findings.iter().all(|f| f.kind != Kind::Scope),
        "no scope failed"
    );
    let calls = &report.stats.aws_calls;
    assert_eq!(calls.get("kms:DescribeKey"), Some(&(KEYS as u64)));
    assert_eq!(calls.get("kms:GetKeyRotationStatus"), Some(&(KEYS as u64)));
    assert_eq!(
        calls.get("kms:ListKeyRotations"),
        Some(&((KEYS / 2) as u64))
    );
    assert_eq!(
        report.stats.max_in_flight, 16,
        "bounded by AUDIT_CONCURRENCY, and reaching it"
    );
    println!(
        "seeded {KEYS} keys in {:.1} s; audited them in {:.1} s ({} AWS calls, at most {} in flight)",
        seeded_in.as_secs_f64(),
        audited_in.as_secs_f64(),
        calls.values().sum::<u64>(),
        report.stats.max_in_flight
    );
}
