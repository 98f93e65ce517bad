//! The trust boundary between a rotation secret and an IAM user, and the secret tags that
//! record which keys a secret holds.
//!
//! A secret's value is data, not authority: whoever can write it must not be able to aim the
//! rotator or the sweep at another IAM user. An IAM administrator binds a user to its secret
//! with the user tag [`BINDING_TAG`]; the functions' roles can never set or change it.
//!
//! The rotator records the key ids of a secret in the secret's own tags ([`CURRENT_KEY_TAG`],
//! [`PREVIOUS_KEY_TAG`], [`USER_TAG`]), which ListSecrets returns: the
//! audit learns which keys a secret holds without reading any secret value. These tags are
//! hints written by whoever can tag the secret; every destructive decision made from them also
//! requires the binding and IAM's own facts.

/// The IAM user tag whose value names the one secret allowed to rotate the user's keys: the
/// secret's full ARN. A name is never accepted: the same name exists in every region and can be
/// created again after a deletion.
pub const BINDING_TAG: &str = "KeyRotationSecret";

/// IAM user tag the rotator writes once a new key's value is stored: the keys it created for the
/// user's binding, `<binding digest>:<id>.<id>`. The digest names the secret ARN of the binding,
/// so a record made for one secret never counts for another. Only these keys, and a key whose
/// secret access key the secret proves it holds, are ever retired: the secret's value and its
/// tags select candidates, never proof.
pub const OWN_KEYS_TAG: &str = "KeyRotationOwnKeys";

/// IAM user tag an IAM administrator sets to `true` to let a rotation make room by deleting
/// every key of the user but the current one (it was `DeleteAllKeysBeforeRotating` in the
/// secret's value, which any writer of the secret controls).
pub const DELETE_OTHER_KEYS_TAG: &str = "KeyRotationDeleteOtherKeys";

/// Hex digits of the binding digest kept in [`OWN_KEYS_TAG`] (96 bits).
const BINDING_DIGEST_HEX: usize = 24;
/// The most key ids [`OWN_KEYS_TAG`] keeps (a tag value holds 256 characters).
pub const MAX_OWN_KEYS: usize = 8;

fn binding_digest(secret_arn: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret_arn.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..BINDING_DIGEST_HEX]
        .to_owned()
}

/// The keys [`OWN_KEYS_TAG`] records as created for the binding to `secret_arn`; none when the
/// tag is absent, malformed or recorded for another secret.
pub fn own_keys(tag: Option<&str>, secret_arn: &str) -> Vec<String> {
    let Some((digest, keys)) = tag.and_then(|t| t.trim().split_once(':')) else {
        return Vec::new();
    };
    if digest != binding_digest(secret_arn) {
        return Vec::new();
    }
    keys.split('.')
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .collect()
}

/// The [`OWN_KEYS_TAG`] value recording `keys` for the binding to `secret_arn` (the newest
/// [`MAX_OWN_KEYS`], in the order given, oldest first).
pub fn own_keys_value(secret_arn: &str, keys: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for k in keys {
        if !unique.contains(&k.as_str()) {
            unique.push(k);
        }
    }
    let skip = unique.len().saturating_sub(MAX_OWN_KEYS);
    format!(
        "{}:{}",
        binding_digest(secret_arn),
        unique[skip..].join(".")
    )
}

/// Secret tag: the AccessKeyId of the AWSCURRENT version.
pub const CURRENT_KEY_TAG: &str = "KeyRotationAccessKeyId";
/// Secret tag: the key the current one replaced (its `PreviousAccessKeyId`).
pub const PREVIOUS_KEY_TAG: &str = "KeyRotationPreviousAccessKeyId";
/// Secret tag: the AccessKeyId of the AWSPENDING version while a rotation is under way, as
/// createSecret once recorded it. It no longer does (a stuck rotation's key is in the user's
/// [`OWN_KEYS_TAG`] and its completed intent, and Status shows it); the audit still reads it, and finishSecret clears
/// it, on a secret that carries one.
pub const PENDING_KEY_TAG: &str = "KeyRotationPendingAccessKeyId";
/// Secret tag: the IAM user the secret's keys belong to.
pub const USER_TAG: &str = "KeyRotationUserName";
/// Secret tag: the 12-digit id of the account that user is in (the user of a cross-account
/// rotation is in another account than the secret). Only the id: a user's ARN carries its path,
/// up to 512 characters, and a tag value holds 256. Like every secret tag, a hint: it tells the
/// audit in which account's run the secret's replaced key is swept, never whose key it is.
pub const USER_ACCOUNT_TAG: &str = "KeyRotationUserAccount";

/// Secret tag: the last Rollback, `<from version>:<to version>`, until the next rotation
/// finishes; it makes a repeated Rollback finish the first instead of rolling back again.
pub const ROLLBACK_TAG: &str = "KeyRotationRollback";

/// IAM user tag the audit's sweep writes when it deactivates a replaced key:
/// `<access key id>:<epoch seconds>`. Its grace period before deletion counts from there. Only
/// IAM administrators and the sweep (limited by `aws:TagKeys` to this tag) can write it.
pub const DEACTIVATED_TAG: &str = "KeyRotationDeactivated";

/// IAM user tag the rotator writes when finishSecret has made the new version AWSCURRENT (the
/// switch): `<new access key id>:<epoch seconds>`. The sweep's windows for the key it replaced
/// count from there. Only IAM administrators and the key-writer session of the user's binding
/// (limited by `aws:TagKeys`) can write it.
pub const SWITCHED_TAG: &str = "KeyRotationSwitched";

/// The value of a `<access key id>:<epoch seconds>` record ([`DEACTIVATED_TAG`],
/// [`SWITCHED_TAG`]).
pub fn key_time_value(key_id: &str, at: i64) -> String {
    format!("{key_id}:{at}")
}

/// The time a `<access key id>:<epoch seconds>` record gives for `key_id`, if it names that key.
fn key_time(tag: Option<&str>, key_id: &str) -> Option<i64> {
    let (key, at) = tag?.split_once(':')?;
    (key == key_id).then(|| at.parse().ok()).flatten()
}

/// The deactivation time [`DEACTIVATED_TAG`] records for `key_id`, if it names that key.
pub fn deactivated_at(tag: Option<&str>, key_id: &str) -> Option<i64> {
    key_time(tag, key_id)
}

/// The switch to `key_id` [`SWITCHED_TAG`] records, if it names that key.
pub fn switched_at(tag: Option<&str>, key_id: &str) -> Option<i64> {
    key_time(tag, key_id)
}

/// The secret tags the rotator writes (and the only ones its role may write).
pub const SECRET_KEY_TAGS: [&str; 6] = [
    CURRENT_KEY_TAG,
    PREVIOUS_KEY_TAG,
    PENDING_KEY_TAG,
    USER_TAG,
    USER_ACCOUNT_TAG,
    ROLLBACK_TAG,
];

/// How a user's [`BINDING_TAG`] stands to one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The tag is the secret's full ARN.
    Bound,
    /// No tag (or an empty one).
    Untagged,
    /// The tag is the secret's name: names are no longer accepted.
    ByName,
    /// The tag names something else.
    Other,
}

/// How the [`BINDING_TAG`] value `tag` stands to the secret `secret_arn` (whose name is
/// `secret_name`). Only [`Binding::Bound`] binds.
pub fn binding(tag: Option<&str>, secret_arn: &str, secret_name: &str) -> Binding {
    // Compared exactly, as IAM's StringEquals compares it in the key-writer role's policy.
    match tag.filter(|t| !t.trim().is_empty()) {
        None => Binding::Untagged,
        Some(t) if t == secret_arn => Binding::Bound,
        Some(t) if !secret_name.is_empty() && t == secret_name => Binding::ByName,
        Some(_) => Binding::Other,
    }
}

impl Binding {
    /// How an error message describes a tag value that does not bind.
    pub fn describe(self, found: Option<&str>) -> String {
        let found = found.unwrap_or_default();
        match self {
            Binding::Bound => format!("is {found:?}"),
            Binding::Untagged => "is missing".to_owned(),
            Binding::ByName => format!(
                "is the secret's name {found:?}: names are no longer accepted (the same name exists in every region and can be created again), only the full ARN binds"
            ),
            Binding::Other => format!("is {found:?}, which is not this secret's ARN"),
        }
    }
}

/// Whether a user whose [`BINDING_TAG`] value is `tag` is bound to the secret `secret_arn`.
pub fn is_bound(tag: Option<&str>, secret_arn: &str) -> bool {
    binding(tag, secret_arn, "") == Binding::Bound
}

/// The tag the SAM template puts on rotation secrets.
pub const ROTATION_TYPE_TAG: &str = "RotationType";
pub const ROTATION_TYPE_VALUE: &str = "iam-access-key";

/// The key ids a rotation secret holds, as the rotator records them in the secret's tags.
/// Tags are hints (whoever may tag the secret can change them): a deletion made from them also
/// needs the user's binding to this very secret and IAM's own facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretKeyRefs {
    pub secret_arn: String,
    pub secret_name: String,
    pub user: Option<String>,
    /// The account the user is in ([`USER_ACCOUNT_TAG`]; `None` on secrets last rotated before
    /// the rotator recorded it).
    pub user_account: Option<String>,
    pub current_key: Option<String>,
    pub previous_key: Option<String>,
    pub pending_key: Option<String>,
    /// When Secrets Manager last finished a rotation of the secret (ListSecrets'
    /// `LastRotatedDate`): the switch to its current key when the rotator's record is missing.
    pub last_rotated: Option<i64>,
}

/// The key ids of a secret's tags; `None` when none is set.
pub fn key_refs_of_tags<'a>(
    secret_arn: &str,
    secret_name: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<SecretKeyRefs> {
    let mut refs = SecretKeyRefs {
        secret_arn: secret_arn.to_owned(),
        secret_name: secret_name.to_owned(),
        ..SecretKeyRefs::default()
    };
    for (key, value) in tags {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match key {
            CURRENT_KEY_TAG => &mut refs.current_key,
            PREVIOUS_KEY_TAG => &mut refs.previous_key,
            PENDING_KEY_TAG => &mut refs.pending_key,
            USER_TAG => &mut refs.user,
            USER_ACCOUNT_TAG => &mut refs.user_account,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    let any_key =
        refs.current_key.is_some() || refs.previous_key.is_some() || refs.pending_key.is_some();
    any_key.then_some(refs)
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
        let switched = key_time_value("AKIA2", 1_800_000_000);
        assert_eq!(switched, "AKIA2:1800000000");
        assert_eq!(switched_at(Some(&switched), "AKIA2"), Some(1_800_000_000));
        assert_eq!(switched_at(Some(&switched), "AKIA1"), None);
    }

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/deployer-AbCdEf";

    #[test]
    fn binding_table() {
        let cases: &[(Option<&str>, Binding)] = &[
            (Some(ARN), Binding::Bound),
            // IAM compares the tag exactly: a padded ARN binds nothing.
            (
                Some(" arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/deployer-AbCdEf "),
                Binding::Other,
            ),
            // A name binds nothing: the same name exists in every region.
            (Some("ci/deployer"), Binding::ByName),
            (None, Binding::Untagged),
            (Some(""), Binding::Untagged),
            (Some("  "), Binding::Untagged),
            (Some("ci/other"), Binding::Other),
            // The same name in another region, or without the random suffix.
            (
                Some("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/deployer-AbCdEf"),
                Binding::Other,
            ),
            (
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/deployer"),
                Binding::Other,
            ),
            (
                Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/other-AbCdEf"),
                Binding::Other,
            ),
            (Some("CI/DEPLOYER"), Binding::Other),
        ];
        for (tag, want) in cases {
            assert_eq!(binding(*tag, ARN, "ci/deployer"), *want, "tag {tag:?}");
            assert_eq!(is_bound(*tag, ARN), *want == Binding::Bound, "tag {tag:?}");
        }
    }

    #[test]
    fn own_keys_are_recorded_per_binding() {
        let other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/deployer-AbCdEf";
        let keys = vec![
            "AKIAONE".to_owned(),
            "AKIATWO".to_owned(),
            "AKIAONE".to_owned(),
        ];
        let value = own_keys_value(ARN, &keys);
        assert!(value.len() <= 256, "{value}");
        assert_eq!(own_keys(Some(&value), ARN), ["AKIAONE", "AKIATWO"]);
        // A record made for another secret (here: the same name in another region) is none.
        assert!(own_keys(Some(&value), other).is_empty());
        assert!(own_keys(None, ARN).is_empty());
        assert!(own_keys(Some("AKIAONE"), ARN).is_empty());
        assert!(own_keys(Some(&format!("{value}.bad-id")), ARN).len() == 2);
        // Only the newest are kept, and the value always fits a tag.
        let many: Vec<String> = (0..20).map(|i| format!("AKIA{i:016}")).collect();
        let value = own_keys_value(ARN, &many);
        assert!(value.len() <= 256, "{}", value.len());
        let kept = own_keys(Some(&value), ARN);
        assert_eq!(kept.len(), MAX_OWN_KEYS);
        assert_eq!(kept.last(), many.last());
    }

    #[test]
    fn reads_the_key_ids_from_the_secret_tags() {
        let tags = [
            ("KeyRotationUserName", "alice"),
            ("KeyRotationAccessKeyId", "AKIACUR"),
            ("KeyRotationPreviousAccessKeyId", "AKIAOLD"),
            ("KeyRotationPendingAccessKeyId", " "),
            ("KeyRotationUserAccount", "111122223333"),
            ("RotationType", "iam-access-key"),
        ];
        assert_eq!(
            key_refs_of_tags("arn:s", "s", tags),
            Some(SecretKeyRefs {
                secret_arn: "arn:s".into(),
                secret_name: "s".into(),
                user: Some("alice".into()),
                user_account: Some("111122223333".into()),
                current_key: Some("AKIACUR".into()),
                previous_key: Some("AKIAOLD".into()),
                pending_key: None,
                last_rotated: None,
            })
        );
        // A user name alone names no key.
        assert_eq!(
            key_refs_of_tags("arn:s", "s", [("KeyRotationUserName", "alice")]),
            None
        );
        assert_eq!(key_refs_of_tags("arn:s", "s", [("Team", "x")]), None);
    }
}
