//! The rotation function's metrics: the counters of one invocation, as one EMF document.

use crate::emf::emf;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one rotation invocation.
#[derive(Debug, Default)]
pub struct RotationMetrics {
    pub keys_created: AtomicU64,
    pub keys_deactivated: AtomicU64,
    pub keys_deleted: AtomicU64,
    pub orphans_deleted: AtomicU64,
    pub test_attempts: AtomicU64,
    /// An operator action sent to the rotation function (refused).
    pub operator_actions_refused: AtomicU64,
}

/// The `Step` dimension of the metrics of a refused operator action.
pub const REFUSED_ACTION_STEP: &str = "OperatorAction";

impl RotationMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The EMF document for a finished invocation of `step`.
    pub fn to_emf(&self, namespace: &str, step: &str, succeeded: bool, timestamp_ms: u64) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        emf(
            namespace,
            timestamp_ms,
            &[("Step", step)],
            &[
                ("StepSucceeded", u64::from(succeeded)),
                ("StepFailed", u64::from(!succeeded)),
                ("KeysCreated", get(&self.keys_created)),
                ("KeysDeactivated", get(&self.keys_deactivated)),
                ("KeysDeleted", get(&self.keys_deleted)),
                ("OrphanKeysDeleted", get(&self.orphans_deleted)),
                ("TestAttempts", get(&self.test_attempts)),
                (
                    "OperatorActionsRefused",
                    get(&self.operator_actions_refused),
                ),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_it_carries() {
        let m = RotationMetrics::default();
        RotationMetrics::add(&m.keys_created, 1);
        RotationMetrics::add(&m.test_attempts, 3);
        let doc = m.to_emf("KeyRotation", "createSecret", true, 42);
        let decl = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "KeyRotation");
        assert_eq!(decl["Dimensions"][0][0], "Step");
        assert_eq!(doc["Step"], "createSecret");
        assert_eq!(doc["KeysCreated"], 1);
        assert_eq!(doc["TestAttempts"], 3);
        assert_eq!(doc["StepFailed"], 0);
        for metric in decl["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc.get(name).is_some(), "{name} declared but absent");
        }
    }
}
