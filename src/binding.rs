//! The trust boundary between a rotation secret and an IAM user, and the secret tags that
//! record which keys a secret holds.
//!
//! A secret's value is data, not authority: whoever can write it must not be able to aim the
//! rotator or the sweep at another IAM user. An IAM administrator binds a user to its secret
//! with the user tag [`BINDING_TAG`]; the functions' roles can never set or change it.
//!
//! The rotator records the key ids of a secret in the secret's own tags ([`CURRENT_KEY_TAG`],
//! [`PREVIOUS_KEY_TAG`], [`PENDING_KEY_TAG`], [`USER_TAG`]), which ListSecrets returns: the
//! audit learns which keys a secret holds without reading any secret value. These tags are
//! hints written by whoever can tag the secret; every destructive decision made from them also
//! requires the binding and IAM's own facts.

/// The IAM user tag whose value names the one secret allowed to rotate the user's keys: the
/// secret's ARN, or its name when the user is in the secret's own account.
pub const BINDING_TAG: &str = "KeyRotationSecret";

/// Secret tag: the AccessKeyId of the AWSCURRENT version.
pub const CURRENT_KEY_TAG: &str = "KeyRotationAccessKeyId";
/// Secret tag: the key the current one replaced (its `PreviousAccessKeyId`).
pub const PREVIOUS_KEY_TAG: &str = "KeyRotationPreviousAccessKeyId";
/// Secret tag: the AccessKeyId of the AWSPENDING version while a rotation is under way.
pub const PENDING_KEY_TAG: &str = "KeyRotationPendingAccessKeyId";
/// Secret tag: the IAM user the secret's keys belong to.
pub const USER_TAG: &str = "KeyRotationUserName";

/// Secret tag: the last Rollback, `<from version>:<to version>`, until the next rotation
/// finishes; it makes a repeated Rollback finish the first instead of rolling back again.
pub const ROLLBACK_TAG: &str = "KeyRotationRollback";

/// IAM user tag the audit's sweep writes when it deactivates a replaced key:
/// `<access key id>:<epoch seconds>`. Its grace period before deletion counts from there. Only
/// IAM administrators and the sweep (limited by `aws:TagKeys` to this tag) can write it.
pub const DEACTIVATED_TAG: &str = "KeyRotationDeactivated";

/// The deactivation time [`DEACTIVATED_TAG`] records for `key_id`, if it names that key.
pub fn deactivated_at(tag: Option<&str>, key_id: &str) -> Option<i64> {
    let (key, at) = tag?.split_once(':')?;
    (key == key_id).then(|| at.parse().ok()).flatten()
}

/// The secret tags the rotator writes (and the only ones its role may write).
pub const SECRET_KEY_TAGS: [&str; 5] = [
    CURRENT_KEY_TAG,
    PREVIOUS_KEY_TAG,
    PENDING_KEY_TAG,
    USER_TAG,
    ROLLBACK_TAG,
];

/// The secret as the binding names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretRef<'a> {
    pub arn: &'a str,
    pub name: &'a str,
}

impl SecretRef<'_> {
    /// The account of the secret's ARN.
    pub fn account(&self) -> Option<&str> {
        crate::arn::Arn::parse(self.arn).and_then(|a| a.account_id())
    }
}

/// Whether a user whose ARN is `user_arn` and whose [`BINDING_TAG`] value is `tag` is bound
/// to `secret`: the tag equals the secret's ARN, or its name when the user lives in the
/// secret's own account (a name means nothing across accounts).
pub fn is_bound(tag: Option<&str>, user_arn: &str, secret: SecretRef<'_>) -> bool {
    let Some(tag) = tag.map(str::trim).filter(|t| !t.is_empty()) else {
        return false;
    };
    if tag == secret.arn {
        return true;
    }
    let same_account = match (crate::arn::Arn::parse(user_arn), secret.account()) {
        (Some(user), Some(account)) => user.account == account && !account.is_empty(),
        _ => false,
    };
    same_account && !secret.name.is_empty() && tag == secret.name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deactivation_records_name_their_key() {
        assert_eq!(
            deactivated_at(Some("AKIA1:1800000000"), "AKIA1"),
            Some(1_800_000_000)
        );
        assert_eq!(deactivated_at(Some("AKIA1:1800000000"), "AKIA2"), None);
        assert_eq!(deactivated_at(Some("AKIA1:soon"), "AKIA1"), None);
        assert_eq!(deactivated_at(Some("AKIA1"), "AKIA1"), None);
        assert_eq!(deactivated_at(None, "AKIA1"), None);
    }

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/deployer-AbCdEf";
    const SECRET: SecretRef<'static> = SecretRef {
        arn: ARN,
        name: "ci/deployer",
    };

    #[test]
    fn binding_table() {
        let here = "arn:aws:iam::123456789012:user/ci/deployer";
        let there = "arn:aws:iam::111111111111:user/deployer";
        let cases: &[(Option<&str>, &str, bool)] = &[
            (Some(ARN), here, true),
            (Some(ARN), there, true),
            (Some("ci/deployer"), here, true),
            // A name is ambiguous across accounts.
            (Some("ci/deployer"), there, false),
            (None, here, false),
            (Some(""), here, false),
            (Some("  "), here, false),
            (Some("ci/other"), here, false),
            (
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/deployer"),
                here,
                false,
            ),
            (
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/other-AbCdEf"),
                here,
                false,
            ),
            (Some("CI/DEPLOYER"), here, false),
            (Some("ci/deployer"), "not an arn", false),
        ];
        for (tag, user, want) in cases {
            assert_eq!(
                is_bound(*tag, user, SECRET),
                *want,
                "tag {tag:?} user {user}"
            );
        }
    }
}
