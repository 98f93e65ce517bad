//! What auditors read: the Security Hub control and the CIS AWS Foundations Benchmark
//! requirements each finding corresponds to. One pure table, read by the report (JSON, CSV) and
//! by the Security Hub export (ASFF `Compliance.RelatedRequirements` and `ProductFields`).
//!
//! Sources of the numbers:
//! - Security Hub control ids (IAM.3 "IAM users' access keys should be rotated every 90 days or
//!   less", IAM.4 "IAM root user access key should not exist", KMS.4 "AWS KMS key rotation should
//!   be enabled", SecretsManager.1 "Secrets Manager secrets should have automatic rotation
//!   enabled", SecretsManager.4 "Secrets Manager secrets should be rotated within a specified
//!   number of days"): the AWS Security Hub control reference.
//! - CIS v3.0.0 1.14 "Ensure access keys are rotated every 90 days or less": checked against the
//!   published control lists of the benchmark (v3.0.0 and v1.5.0 number it 1.14).
//! - CIS v5.0.0 1.13 (access keys), 3.6 in v3.0.0 and v5.0.0 ("Ensure rotation for
//!   customer-created symmetric CMKs is enabled"), and the root-key item (v3.0.0 1.4, v5.0.0
//!   1.3): from the Security Hub control reference's "related requirements"; not checked here
//!   against the benchmark's own text. Check them against the benchmark before relying on them.
//!
//! The strings follow Security Hub's own `RelatedRequirements` format (`CIS AWS Foundations
//! Benchmark v3.0.0/1.14`), so a finding of this audit and one of Security Hub's CIS standard
//! group under the same requirement.

use super::Kind;
use crate::audit::verdict::Verdict;

/// The benchmark versions every mapped finding names (they number the key-rotation items
/// differently).
pub const CIS_VERSIONS: [&str; 2] = ["v3.0.0", "v5.0.0"];

/// The Security Hub control and CIS requirements a finding corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// A Security Hub control id (`IAM.3`, `KMS.4`, `SecretsManager.1`, ...).
    pub security_hub: &'static str,
    /// CIS AWS Foundations Benchmark requirements, `CIS AWS Foundations Benchmark <version>/<id>`;
    /// empty where the benchmark has no item (Secrets Manager).
    pub cis: &'static [&'static str],
}

const IAM_KEY_AGE: Controls = Controls {
    security_hub: "IAM.3",
    cis: &[
        "CIS AWS Foundations Benchmark v3.0.0/1.14",
        "CIS AWS Foundations Benchmark v5.0.0/1.13",
    ],
};

const ROOT_ACCESS_KEY: Controls = Controls {
    security_hub: "IAM.4",
    cis: &[
        "CIS AWS Foundations Benchmark v3.0.0/1.4",
        "CIS AWS Foundations Benchmark v5.0.0/1.3",
    ],
};

const KMS_ROTATION: Controls = Controls {
    security_hub: "KMS.4",
    cis: &[
        "CIS AWS Foundations Benchmark v3.0.0/3.6",
        "CIS AWS Foundations Benchmark v5.0.0/3.6",
    ],
};

const SECRET_ROTATION_ENABLED: Controls = Controls {
    security_hub: "SecretsManager.1",
    cis: &[],
};

const SECRET_ROTATED_IN_TIME: Controls = Controls {
    security_hub: "SecretsManager.4",
    cis: &[],
};

/// The root user's name in IAM findings.
pub const ROOT_USER: &str = "<root_account>";

/// The controls of a finding of `kind` with `verdict` and `reason` (`user`: an access key's
/// user); `None` for findings about the audit itself (scope errors, vanished users).
/// - an IAM access key: IAM.3 (its age), or IAM.4 for the root user's keys (which should not
///   exist at all);
/// - a KMS key: KMS.4, whatever its class (a key KMS cannot rotate is NOT_APPLICABLE to it);
/// - a secret: SecretsManager.1 when rotation is off, SecretsManager.4 otherwise (rotated within
///   its schedule, overdue or stopped).
pub fn controls(
    kind: Kind,
    verdict: Verdict,
    reason: &str,
    user: Option<&str>,
) -> Option<Controls> {
    match kind {
        Kind::IamAccessKey if user == Some(ROOT_USER) => Some(ROOT_ACCESS_KEY),
        Kind::IamAccessKey => Some(IAM_KEY_AGE),
        Kind::KmsKey => Some(KMS_ROTATION),
        Kind::Secret
            if matches!(verdict, Verdict::NonCompliant | Verdict::Exempt)
                && reason.starts_with("rotation disabled") =>
        {
            Some(SECRET_ROTATION_ENABLED)
        }
        Kind::Secret => Some(SECRET_ROTATED_IN_TIME),
        Kind::IamUser | Kind::Scope => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_its_control_and_both_benchmark_versions() {
        let c = controls(
            Kind::IamAccessKey,
            Verdict::NonCompliant,
            "age 97 days",
            Some("alice"),
        )
        .unwrap();
        assert_eq!(c.security_hub, "IAM.3");
        assert_eq!(
            c.cis,
            [
                "CIS AWS Foundations Benchmark v3.0.0/1.14",
                "CIS AWS Foundations Benchmark v5.0.0/1.13"
            ]
        );
        let c = controls(
            Kind::IamAccessKey,
            Verdict::NonCompliant,
            "root",
            Some(ROOT_USER),
        )
        .unwrap();
        assert_eq!(c.security_hub, "IAM.4");
        for v in Verdict::ALL {
            let c = controls(Kind::KmsKey, v, "rotation disabled", None).unwrap();
            assert_eq!(c.security_hub, "KMS.4");
            assert_eq!(
                c.cis,
                [
                    "CIS AWS Foundations Benchmark v3.0.0/3.6",
                    "CIS AWS Foundations Benchmark v5.0.0/3.6"
                ]
            );
        }
    }

    #[test]
    fn a_secret_maps_to_rotation_enabled_or_rotated_in_time_by_its_reason() {
        let c = |v, r| controls(Kind::Secret, v, r, None).unwrap().security_hub;
        assert_eq!(
            c(Verdict::NonCompliant, "rotation disabled"),
            "SecretsManager.1"
        );
        assert_eq!(
            c(Verdict::NonCompliant, "rotation overdue: last rotated …"),
            "SecretsManager.4"
        );
        assert_eq!(
            c(Verdict::NonCompliant, "a rotation stopped: AWSPENDING …"),
            "SecretsManager.4"
        );
        assert_eq!(
            c(Verdict::Compliant, "rotation every 30 days"),
            "SecretsManager.4"
        );
        assert!(controls(Kind::Secret, Verdict::Compliant, "x", None)
            .unwrap()
            .cis
            .is_empty());
    }

    #[test]
    fn findings_about_the_audit_itself_map_to_nothing() {
        assert_eq!(controls(Kind::Scope, Verdict::Error, "denied", None), None);
        assert_eq!(
            controls(Kind::IamUser, Verdict::NotApplicable, "gone", None),
            None
        );
    }

    #[test]
    fn every_benchmark_requirement_states_its_version() {
        for kind in [Kind::IamAccessKey, Kind::KmsKey] {
            for user in [Some("alice"), Some(ROOT_USER)] {
                let c = controls(kind, Verdict::NonCompliant, "r", user).unwrap();
                assert_eq!(c.cis.len(), CIS_VERSIONS.len());
                for (req, version) in c.cis.iter().zip(CIS_VERSIONS) {
                    assert!(
                        req.starts_with(&format!("CIS AWS Foundations Benchmark {version}/")),
                        "{req}"
                    );
                }
            }
        }
    }
}
