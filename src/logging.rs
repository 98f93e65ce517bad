//! Tracing set-up shared by both binaries.
//!
//! Level from `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`), JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`,
//! as `lambda_runtime::tracing::init_default_subscriber` does, with one difference: the runtime
//! and the SDK's HTTP layers are capped at DEBUG, because at TRACE they print raw event payloads
//! (a RotationToken) and request bodies.

use lambda_runtime::tracing::subscriber::{self, filter::EnvFilter, filter::LevelFilter};
use std::str::FromStr;

const CAPPED: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

/// The filter for a given level setting; separate so that tests can check it.
pub fn filter_for(level: Option<&str>) -> EnvFilter {
    let level = level
        .and_then(|l| LevelFilter::from_str(l).ok())
        .unwrap_or(LevelFilter::INFO);
    let mut filter = EnvFilter::default().add_directive(level.into());
    if level > LevelFilter::DEBUG {
        for target in CAPPED {
            if let Ok(d) = format!("{target}=debug").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter_for(level.as_deref()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
