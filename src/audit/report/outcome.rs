//! Where the report went besides the invocation's result (S3, Security Hub), and what failed:
//! part of the report.

use serde::Serialize;

/// What the export did, in the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<HubOutcome>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct S3Outcome {
    pub bucket: String,
    pub key: String,
    pub csv_key: String,
    pub stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HubOutcome {
    pub imported: usize,
    pub failed: usize,
    /// BatchImportFindings calls.
    pub calls: usize,
    /// Findings of this run that Security Hub held as SUPPRESSED (where no import can update
    /// them) and that were set back to NEW (the export reopens them).
    pub reopened: usize,
    /// Suppressed findings that could not be looked up or set back to NEW.
    pub reopen_failed: usize,
    /// The first errors (finding id or call, and the error code).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl HubOutcome {
    pub(crate) fn error(&mut self, e: String) {
        if self.errors.len() < 10 {
            self.errors.push(e);
        }
    }
}
