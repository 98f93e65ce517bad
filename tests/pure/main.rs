//! Pure tests: they need nothing but the crate and the repository's files (the SAM template,
//! member-roles.yaml, events/, docs/). No network, no AWS client. `make unit` runs them. (The docs
//! checks run DuckDB from .venv-docs, which they install themselves.)

mod audit_events;
mod docs;
mod event_samples;
mod logging;
mod template;

// The log capture of the leak checks; only its `Captured` is used here.
#[allow(dead_code)]
#[path = "../common/capture.rs"]
mod capture;
