//! The check made before every step, as in AWS's rotation template.

use crate::aws::secrets::{SecretMeta, AWSCURRENT, AWSPENDING};
use crate::rotation::error::ErrorKind;
use crate::rotation::event::Step;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardOutcome {
    /// The token's version is AWSPENDING: run the step.
    Proceed,
    /// The token's version is already AWSCURRENT: nothing to do.
    AlreadyCurrent,
    /// finishSecret moved AWSCURRENT but did not return (the version is AWSCURRENT and still
    /// AWSPENDING, which Secrets Manager removes only after finishSecret succeeds): retire the
    /// replaced key again, idempotently.
    ResumeFinish,
}

pub fn check(meta: &SecretMeta, token: &str, step: Step) -> Result<GuardOutcome, ErrorKind> {
    if !meta.rotation_enabled {
        return Err(ErrorKind::RotationDisabled);
    }
    let stages = meta.stages_of(token).ok_or(ErrorKind::UnknownVersion)?;
    let has = |s: &str| stages.iter().any(|x| x == s);
    match (has(AWSCURRENT), has(AWSPENDING)) {
        (true, true) if step == Step::FinishSecret => Ok(GuardOutcome::ResumeFinish),
        (true, _) => Ok(GuardOutcome::AlreadyCurrent),
        (false, true) => Ok(GuardOutcome::Proceed),
        (false, false) => Err(ErrorKind::NotPending {
            stages: stages.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn meta(enabled: bool, versions: &[(&str, &[&str])]) -> SecretMeta {
        SecretMeta {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".into(),
            name: "s".into(),
            rotation_enabled: enabled,
            versions: versions
                .iter()
                .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect::<HashMap<_, _>>(),
            tags: vec![],
        }
    }

    #[test]
    fn table() {
        let normal = meta(true, &[("cur", &["AWSCURRENT"]), ("tok", &["AWSPENDING"])]);
        let done = meta(true, &[("old", &["AWSPREVIOUS"]), ("tok", &["AWSCURRENT"])]);
        let moved = meta(
            true,
            &[
                ("old", &["AWSPREVIOUS"]),
                ("tok", &["AWSCURRENT", "AWSPENDING"]),
            ],
        );
        let previous = meta(true, &[("tok", &["AWSPREVIOUS"]), ("cur", &["AWSCURRENT"])]);
        for step in Step::ALL {
            assert_eq!(check(&normal, "tok", step).unwrap(), GuardOutcome::Proceed);
            assert_eq!(
                check(&done, "tok", step).unwrap(),
                GuardOutcome::AlreadyCurrent
            );
            assert!(matches!(
                check(&normal, "nope", step),
                Err(ErrorKind::UnknownVersion)
            ));
            assert!(matches!(
                check(&previous, "tok", step),
                Err(ErrorKind::NotPending { .. })
            ));
            assert!(matches!(
                check(&meta(false, &[("tok", &["AWSPENDING"])]), "tok", step),
                Err(ErrorKind::RotationDisabled)
            ));
            let want = if step == Step::FinishSecret {
                GuardOutcome::ResumeFinish
            } else {
                GuardOutcome::AlreadyCurrent
            };
            assert_eq!(check(&moved, "tok", step).unwrap(), want);
        }
    }
}
