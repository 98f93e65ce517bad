//! Moto tests: the rotator and the audit end to end against the moto server that
//! `scripts/with-moto.sh` starts (`MOTO_ENDPOINT` and the other variables of `common::env`).
//! `faults` puts the fault-injecting proxy between them and moto: the convergence proofs, and
//! the slowest tests.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod audit_export;
mod audit_scale;
mod bad_inputs;
mod cross_account_sweep;
mod faults;
mod no_leaks;
mod operator_actions;
mod rotation;
mod trust_boundary;
