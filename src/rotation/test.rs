//! testSecret: sign STS GetCallerIdentity with the pending key; it must authenticate as the
//! secret's user. A fresh key takes a few seconds to propagate through IAM, so the errors that
//! propagation causes are retried with capped backoff, within TEST_TIMEOUT_SECONDS and always
//! inside the invocation's deadline.

use super::Invocation;
use crate::arn::Arn;
use crate::aws::error::AwsError;
use crate::rotation::error::ErrorKind;
use crate::rotation::metrics::RotationMetrics;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// What a not-yet-propagated key gets from STS.
const PROPAGATION_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
];
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// Left at the end of the invocation to report a failure.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Who the key must authenticate as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedUser<'a> {
    pub partition: &'a str,
    pub account: &'a str,
    pub user: &'a str,
}

impl std::fmt::Display for ExpectedUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IAM user {:?} of account {} ({})",
            self.user, self.account, self.partition
        )
    }
}

/// True when `arn` is the IAM user `expected` (any path; user names compare as IAM compares
/// them, case-insensitively).
pub fn is_user(arn: &str, expected: &ExpectedUser<'_>) -> bool {
    Arn::parse(arn).is_some_and(|a| {
        a.partition == expected.partition
            && a.service == "iam"
            && a.account == expected.account
            && a.resource.starts_with("user/")
            && a.resource
                .rsplit('/')
                .next()
                .is_some_and(|name| name.eq_ignore_ascii_case(expected.user))
    })
}

pub(super) async fn run(inv: &Invocation<'_>) -> Result<(), ErrorKind> {
    let pending = inv.require_pending().await?;
    let (Some(key_id), Some(secret)) = (
        pending.access_key_id.as_deref(),
        pending.secret_access_key(),
    ) else {
        return Err(ErrorKind::IncompleteKey {
            stage: "AWSPENDING",
        });
    };
    // The user lives in the account of the role IAM is reached through, else the secret's.
    let owner_arn = pending.role_arn.as_deref().unwrap_or(inv.arn());
    let owner =
        Arn::parse(owner_arn).ok_or_else(|| ErrorKind::InvalidRoleArn(owner_arn.to_owned()))?;
    let expected = ExpectedUser {
        partition: owner.partition,
        account: owner.account,
        user: &pending.user_name,
    };

    let started = Instant::now();
    let mut until = started + inv.config.test_timeout;
    if let Some(deadline) = inv.deadline {
        until = until.min(deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(started));
    }
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        RotationMetrics::add(&inv.metrics.test_attempts, 1);
        let budget = until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let identity = inv.aws.sts.identity_of(key_id, secret, budget).await;
        let last: AwsError = match identity {
            Ok(arn) if is_user(&arn, &expected) => {
                info!(secret_id = %inv.arn(), step = "testSecret", key_id = %key_id, identity = %arn,
                      attempts, "pending key authenticates as the user");
                return Ok(());
            }
            Ok(arn) => {
                return Err(ErrorKind::IdentityMismatch {
                    expected: expected.to_string(),
                    actual: arn,
                })
            }
            Err(e) if PROPAGATION_CODES.iter().any(|c| e.code_is(c)) => e,
            Err(e) => return Err(ErrorKind::Aws(e)),
        };
        let now = Instant::now();
        if now + backoff >= until {
            return Err(ErrorKind::TestTimedOut {
                key: key_id.to_owned(),
                attempts,
                waited_ms: now.duration_since(started).as_millis(),
                last,
            });
        }
        warn!(secret_id = %inv.arn(), step = "testSecret", key_id = %key_id, attempts,
              code = ?last.code, backoff_ms = backoff.as_millis() as u64,
              "pending key not accepted yet; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_comparison() {
        let want = ExpectedUser {
            partition: "aws",
            account: "123456789012",
            user: "alice",
        };
        assert!(is_user("arn:aws:iam::123456789012:user/alice", &want));
        assert!(is_user(
            "arn:aws:iam::123456789012:user/team/a/alice",
            &want
        ));
        assert!(!is_user("arn:aws:iam::123456789012:user/bob", &want));
        // IAM user names are case-insensitive: "Alice" is the user "alice".
        assert!(is_user("arn:aws:iam::123456789012:user/Alice", &want));
        assert!(is_user(
            "arn:aws:iam::123456789012:user/ALICE",
            &ExpectedUser {
                user: "aLiCe",
                ..want.clone()
            }
        ));
        assert!(!is_user("arn:aws:iam::123456789012:user/malice", &want));
        assert!(!is_user("arn:aws:iam::210987654321:user/alice", &want));
        assert!(!is_user(
            "arn:aws-us-gov:iam::123456789012:user/alice",
            &want
        ));
        assert!(!is_user("arn:aws:sts::123456789012:user/moto", &want));
        assert!(!is_user(
            "arn:aws:sts::123456789012:assumed-role/alice/alice",
            &want
        ));
        assert!(!is_user("arn:aws:iam::123456789012:role/alice", &want));
    }
}
