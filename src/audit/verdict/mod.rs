//! Verdicts as pure functions over plain data: no AWS call, no clock (the time is passed in).
//! What a verdict is lives here; each subject has its own rules: [`kms`] (whether a key rotates
//! as it should), [`iam`] (access-key age), [`sweep`] (what happens to a replaced key),
//! [`secret`] (a secret's rotation schedule), [`exemption`] (whether a tagged exemption holds).

pub mod exemption;
#[cfg(test)]
mod fixtures;
pub mod iam;
pub mod kms;
pub mod secret;
pub mod sweep;
pub mod usage;

pub use exemption::{apply_exemption, Exemption, ExemptionTags, EXEMPT_TAG, EXEMPT_UNTIL_TAG};
use serde::Serialize;

pub const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Compliant,
    NonCompliant,
    NotApplicable,
    /// Would be non-compliant, but the resource carries the tags `KeyRotationExempt` (the
    /// reason) and `KeyRotationExemptUntil` (a valid expiry): [`exemption`]. Counted apart, never
    /// dropped.
    Exempt,
    Error,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Compliant,
        Verdict::NonCompliant,
        Verdict::NotApplicable,
        Verdict::Exempt,
        Verdict::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compliant => "COMPLIANT",
            Verdict::NonCompliant => "NON_COMPLIANT",
            Verdict::NotApplicable => "NOT_APPLICABLE",
            Verdict::Exempt => "EXEMPT",
            Verdict::Error => "ERROR",
        }
    }
}

/// A verdict, why, and whether the audit may fix it (EnableKeyRotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub remediable: bool,
}

impl Judgement {
    pub fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            remediable: false,
        }
    }

    /// An ERROR verdict (no AWS answer to judge).
    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Error, reason)
    }
}
