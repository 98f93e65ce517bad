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
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), Value::String((*v).into()));
    }
    for (k, v) in metrics {
        doc.insert((*k).into(), json!(v));
    }
    Value::Object(doc)
}
