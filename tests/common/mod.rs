//! The tests' shared support tree, included once by the `mocks` and the `moto` binaries (the
//! mock rules only the `mocks` binary uses are in `tests/mocks/support`; `pure` takes
//! `capture.rs` alone, the bench example `proxy.rs`): names every test may use, and one
//! submodule per concern.
//!
//! - `env`: the variables `scripts/with-moto.sh` exports.
//! - `moto`: SDK configs and clients signed for moto, and the seeding calls both sides make.
//! - `rotation`: the harness that plays Secrets Manager against the rotator.
//! - `audit`: auditors on moto, their events and the KMS/IAM fixtures of the audit tests.
//! - `proxy`: the fault-injecting HTTP proxy between the rotator and moto.
//! - `capture`: log capture and the leak check.
//! - `notifications`: an SNS topic whose messages land in an SQS queue.
//! - `clock`: waiting for the wall clock past an IAM date.

pub mod audit;
pub mod capture;
pub mod clock;
pub mod env;
pub mod moto;
pub mod notifications;
pub mod proxy;
pub mod rotation;

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The account moto (and the mocks) answer for.
pub const ACCOUNT: &str = "123456789012";
pub const DAY: i64 = 86_400;

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh token in the shape of a UUID.
pub fn uuid_like() -> String {
    let u = unique("t");
    let digits: String = format!("{:x}", fnv128(&u))
        .chars()
        .cycle()
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &digits[0..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..32]
    )
}

/// FNV-1a over 128 bits: enough to make distinct tokens.
fn fnv128(s: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in s.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

/// The EMF documents a rotator or an auditor printed.
pub type Emitted = Arc<Mutex<Vec<Value>>>;

/// A metrics sink that keeps every document in `emitted`.
pub fn keep_in(emitted: &Emitted) -> Arc<dyn Fn(&Value) + Send + Sync> {
    let sink = emitted.clone();
    Arc::new(move |doc| sink.lock().unwrap().push(doc.clone()))
}

/// The document of `region` among `emitted`.
pub fn emitted_for(emitted: &Emitted, region: &str) -> Value {
    emitted
        .lock()
        .unwrap()
        .iter()
        .find(|d| d["Region"] == region)
        .cloned()
        .unwrap_or_else(|| panic!("no EMF document for {region}"))
}

/// A Secrets Manager tag.
pub fn secret_tag(key: &str, value: &str) -> aws_sdk_secretsmanager::types::Tag {
    aws_sdk_secretsmanager::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
}
