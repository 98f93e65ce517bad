//! Mock tests: the rotator and the audit against AWS answers made in the process
//! (aws-smithy-mocks rules, a captured request, a local TLS server): what real AWS answers and
//! moto cannot show. No moto. `make unit` runs them.
//!
//! Some tests here install a log subscriber; nextest runs every test in a process of its own,
//! so no test sees another's subscriber.

// The mock tests use the shared names, `capture` and `audit::config` of the one support tree;
// the rest of it (env, moto, rotation, notifications, proxy, clock) serves the moto tests.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
/// aws-smithy-mocks rules and mock clients: the mock tests' own support.
mod support;

mod alarm_metrics;
mod audit;
mod audit_batch;
mod audit_cross_account;
mod audit_logs;
mod audit_org;
mod endpoints;
mod root_keys;
mod rotation;
mod tls_trust;
