//! Verdicts as pure functions over plain data: no AWS call, no clock (the time is passed in).
//! What a verdict is lives here; each subject has its own rules: [`kms`] (whether a key rotates
//! as it should), [`iam`] (access-key age), [`sweep`] (what happens to a replaced key),
//! [`secret`] (a secret's rotation schedule).

#[cfg(test)]
mod fixtures;
pub mod iam;
pub mod kms;
pub mod secret;
pub mod sweep;

use serde::Serialize;

pub const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Compliant,
    NonCompliant,
    NotApplicable,
    /// Would be non-compliant, but the resource carries the tag `KeyRotationExempt` (its value:
    /// the reason). Counted apart, never dropped.
    Exempt,
    Error,
}

/// The tag that exempts a KMS key or an IAM user from the audit's verdict; its value is the
/// reason.
pub const EXEMPT_TAG: &str = "KeyRotationExempt";

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

/// A non-compliant verdict becomes EXEMPT when the resource's `KeyRotationExempt` tag gives a
/// reason (an empty value is no reason: the verdict stands).
pub fn apply_exemption(
    verdict: Verdict,
    reason: &str,
    exempt_tag: Option<&str>,
) -> Option<(Verdict, String)> {
    let why = exempt_tag.map(str::trim).filter(|t| !t.is_empty())?;
    (verdict == Verdict::NonCompliant).then(|| {
        (
            Verdict::Exempt,
            format!("exempt ({EXEMPT_TAG}): {why}; would be non-compliant: {reason}"),
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemption_table() {
        use Verdict::*;
        // A reason turns a failing verdict into EXEMPT, naming both.
        let (v, reason) = apply_exemption(
            NonCompliant,
            "rotation disabled",
            Some("HSM-backed, rotated by hand"),
        )
        .unwrap();
        assert_eq!(v, Exempt);
        assert!(
            reason.contains("HSM-backed, rotated by hand") && reason.contains("rotation disabled")
        );
        // No tag, an empty tag, or a verdict that is not a failure: unchanged.
        assert_eq!(apply_exemption(NonCompliant, "r", None), None);
        assert_eq!(apply_exemption(NonCompliant, "r", Some("  ")), None);
        for v in [Compliant, NotApplicable, Error] {
            assert_eq!(apply_exemption(v, "r", Some("why")), None, "{v:?}");
        }
    }
}
