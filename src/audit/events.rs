//! The events that trigger an audit. (Placeholder until the audit lands: nothing is accepted.)

use serde_json::Value;
use thiserror::Error;

/// What an event asks the audit to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A scheduled event: everything.
    Full,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TriggerError {
    #[error("unsupported event: the audit is not implemented yet")]
    Unsupported,
}

pub fn parse_trigger(_event: &Value) -> Result<Trigger, TriggerError> {
    Err(TriggerError::Unsupported)
}
