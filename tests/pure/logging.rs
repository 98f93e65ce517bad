//! The functions' log filter: at TRACE neither the Lambda runtime's raw event nor the SDK's
//! HTTP bodies reach a log line (the filter caps those targets at DEBUG).

use crate::capture::Captured;
use lambda_runtime::tracing::subscriber;

#[test]
fn trace_level_never_prints_the_runtimes_raw_event() {
    // At TRACE, lambda_runtime logs the raw event (with a RotationToken) under its own target;
    // the functions' filter caps it, and the SDK's HTTP layers, at DEBUG.
    let captured = Captured::default();
    let sub = subscriber::fmt()
        .json()
        .with_env_filter(aws_key_rotation::logging::filter_for(Some("trace")))
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(sub, || {
        tracing::trace!(target: "lambda_runtime::layers::api_response", body = "rt-secret-payload", "raw JSON event received from Lambda");
        tracing::trace!(target: "aws_smithy_runtime::client::http", body = "smithy-secret-body", "response");
        tracing::debug!(target: "lambda_runtime::runtime", "debug from the runtime");
        tracing::trace!(target: "aws_key_rotation::rotation", "trace from the function");
    });
    let logs = captured.text();
    assert!(
        !logs.contains("rt-secret-payload") && !logs.contains("smithy-secret-body"),
        "{logs}"
    );
    assert!(
        logs.contains("debug from the runtime") && logs.contains("trace from the function"),
        "{logs}"
    );
}
