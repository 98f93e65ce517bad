//! Pure tests: they need nothing but the crate and the repository's files (the SAM template,
//! member-roles.yaml, events/, docs/security.md). No network, no AWS client. `make unit` runs them.

mod audit_events;
mod event_samples;
mod logging;
mod template;

// The log capture of the leak checks; only its `Captured` is used here.
#[allow(dead_code)]
#[path = "../common/capture.rs"]
mod capture;
