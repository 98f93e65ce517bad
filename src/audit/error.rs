//! Errors of the audit function: the event it cannot read, the region it cannot pick. Each maps
//! to a stable Lambda `errorType`; a failing AWS call is a finding, never an error.

use super::events::TriggerError;
use lambda_runtime::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("invalid audit event: {0}")]
    InvalidEvent(#[from] TriggerError),
    #[error("no region to audit: set AUDIT_REGIONS or AWS_REGION")]
    NoRegion,
    /// A batch of the event queue of which nothing could be audited (every record refused,
    /// or no account it names reachable): SQS delivers it again, then dead-letters it.
    #[error("nothing in the event batch could be audited: {0}")]
    NothingAudited(String),
}

impl AuditError {
    /// The stable `errorType` the Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            AuditError::InvalidEvent(_) => "Audit.InvalidEvent",
            AuditError::NoRegion => "Audit.NoRegion",
            AuditError::NothingAudited(_) => "Audit.NothingAudited",
        }
    }
}

impl From<AuditError> for Diagnostic {
    fn from(e: AuditError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_stable_types() {
        let e = AuditError::from(TriggerError::BadDetail("x".into()));
        assert_eq!(Diagnostic::from(e).error_type, "Audit.InvalidEvent");
        assert_eq!(
            Diagnostic::from(AuditError::NoRegion).error_type,
            "Audit.NoRegion"
        );
    }
}
