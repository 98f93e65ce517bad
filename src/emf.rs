//! CloudWatch embedded metric format (EMF): the documents both functions print, one JSON line
//! each, and where they go.

use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Where the EMF documents go (stdout in Lambda, where CloudWatch Logs picks them up).
pub type MetricsSink = Arc<dyn Fn(&Value) + Send + Sync>;

/// The sink of a Lambda: one line on stdout per document.
pub fn stdout() -> MetricsSink {
    Arc::new(|doc| println!("{doc}"))
}

/// An EMF document with one dimension set and `Count` metrics.
pub fn emf(
    namespace: &str,
    timestamp_ms: u64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, u64)],
) -> Value {
    let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let metrics: Vec<(&str, u64, &str)> = metrics.iter().map(|(n, v)| (*n, *v, COUNT)).collect();
    emf_sets(namespace, timestamp_ms, &[&keys], dimensions, &metrics)
}

/// The unit of a counter.
pub const COUNT: &str = "Count";
/// The unit of a duration in milliseconds.
pub const MILLISECONDS: &str = "Milliseconds";

/// An EMF document whose metrics (name, value, unit) CloudWatch records once under each of
/// `dimension_sets` (each a list of keys of `dimensions`; an empty set records them without
/// any dimension).
pub fn emf_sets(
    namespace: &str,
    timestamp_ms: u64,
    dimension_sets: &[&[&str]],
    dimensions: &[(&str, &str)],
    metrics: &[(&str, u64, &str)],
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), Value::String((*v).into()));
    }
    for (k, v, _) in metrics {
        doc.insert((*k).into(), json!(v));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_each_dimension_set_and_unit() {
        let doc = emf_sets(
            "KeyRotation",
            42,
            &[&["Account"], &[]],
            &[("Account", "111122223333")],
            &[
                ("ErrorFindings", 2, COUNT),
                ("AuditDurationMs", 900, MILLISECONDS),
            ],
        );
        let decl = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Dimensions"], json!([["Account"], []]));
        assert_eq!(
            decl["Metrics"],
            json!([
                {"Name": "ErrorFindings", "Unit": "Count"},
                {"Name": "AuditDurationMs", "Unit": "Milliseconds"}
            ])
        );
        assert_eq!(doc["Account"], "111122223333");
        assert_eq!(doc["ErrorFindings"], 2);
        assert_eq!(doc["AuditDurationMs"], 900);
        // One dimension set of every key, as before.
        let one = emf(
            "KeyRotation",
            42,
            &[("Step", "createSecret")],
            &[("StepFailed", 1)],
        );
        assert_eq!(
            one["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Step"]])
        );
        assert_eq!(
            one["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "StepFailed", "Unit": "Count"}])
        );
    }
}
