//! The intent record: one user tag written before createSecret changes anything, so a retry can
//! tell a key its own interrupted attempt made (an orphan) from a key a person made.
//!
//! The value is always a valid IAM tag value whatever the token holds: a SHA-256 digest of the
//! token, the time, and the ids of the keys the user had then (`<digest>:<epoch>:<id>.<id>`,
//! or `none` for no keys). Key ids are `[A-Z0-9]`, so `.` and `:` never occur inside them.
//!
//! Once the new key is stored as AWSPENDING, the record is completed with it (`…:<created id>`,
//! written with the own-keys record in one TagUser): from then on that key, and no other, is the
//! attempt's, and finishSecret takes it for the secret's own under this token without a proof.
//! A completed record is only written for a value the rotator stored, and left after the
//! rotation it names one key of that value, so it is not cleared: the next rotation overwrites
//! it.

use sha2::{Digest, Sha256};

/// The one user tag the rotator writes.
pub const INTENT_TAG: &str = "KeyRotationIntent";
/// IAM does not accept empty tag values.
const NO_KEYS: &str = "none";
/// Hex digits of the token's digest kept in the tag (128 bits).
const DIGEST_HEX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The digest of the rotation token the intent belongs to.
    pub token_digest: String,
    /// When it was recorded (seconds since the epoch).
    pub at: i64,
    /// The keys the user had when it was recorded; any other key that appears after it,
    /// under the same token, was made by that attempt.
    pub keys_before: Vec<String>,
    /// The key the attempt made, once CreateAccessKey answered.
    pub created: Option<String>,
}

/// The digest of a rotation token as the tag stores it.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..DIGEST_HEX]
        .to_owned()
}

impl Intent {
    pub fn new(token: &str, at: i64, keys_before: Vec<String>) -> Self {
        Self {
            token_digest: token_digest(token),
            at,
            keys_before,
            created: None,
        }
    }

    /// The record once CreateAccessKey made `key`.
    pub fn completed(&self, key: &str) -> Self {
        Self {
            created: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// Whether `key` was made by the attempt this records: the key it created, or, while
    /// CreateAccessKey has not answered, any key the user did not have before.
    pub fn made(&self, key: &str) -> bool {
        match &self.created {
            Some(created) => created == key,
            None => !self.keys_before.iter().any(|k| k == key),
        }
    }

    pub fn is_for(&self, token: &str) -> bool {
        self.token_digest == token_digest(token)
    }

    /// The tag value.
    pub fn to_tag_value(&self) -> String {
        let keys = if self.keys_before.is_empty() {
            NO_KEYS.to_owned()
        } else {
            self.keys_before.join(".")
        };
        match &self.created {
            None => format!("{}:{}:{keys}", self.token_digest, self.at),
            Some(created) => format!("{}:{}:{keys}:{created}", self.token_digest, self.at),
        }
    }

    /// Reads a tag value back; `None` when it is not one this module wrote.
    pub fn from_tag_value(value: &str) -> Option<Intent> {
        let mut parts = value.splitn(3, ':');
        let digest = parts.next()?;
        let at = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let (keys, created) = match rest.split_once(':') {
            Some((keys, created)) => (keys, Some(created)),
            None => (rest, None),
        };
        if created.is_some_and(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return None;
        }
        if digest.len() != DIGEST_HEX || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Intent {
            token_digest: digest.to_owned(),
            at,
            keys_before: keys
                .split('.')
                .filter(|k| !k.is_empty() && *k != NO_KEYS)
                .map(str::to_owned)
                .collect(),
            created: created.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What IAM accepts in a tag value: letters, digits, spaces and `_.:/=+-@`, ≤ 256 chars.
    fn valid_tag_value(v: &str) -> bool {
        v.chars().count() <= 256
            && v.chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
    }

    #[test]
    fn round_trips_and_is_always_a_valid_tag_value() {
        let tokens = [
            "0b1c2d3e-0000-4000-8000-00000000000f",
            "tok with spaces, commas; and \"quotes\"",
            "ünïcødé-🔑",
            &"x".repeat(64),
            "",
        ];
        for token in tokens {
            for keys in [
                vec![],
                vec![
                    "AKIAAAAAAAAAAAAAAAAA".to_owned(),
                    "AKIABBBBBBBBBBBBBBBB".to_owned(),
                ],
            ] {
                let open = Intent::new(token, 1_795_338_000, keys);
                for i in [open.clone(), open.completed("AKIACCCCCCCCCCCCCCCC")] {
                    let v = i.to_tag_value();
                    assert!(valid_tag_value(&v), "{v}");
                    let back = Intent::from_tag_value(&v).unwrap();
                    assert_eq!(back, i);
                    assert!(back.is_for(token));
                    assert!(!back.is_for("another token"));
                }
            }
        }
    }

    #[test]
    fn a_completed_record_names_only_the_key_it_created() {
        let open = Intent::new("tok", 1, vec!["AKIAAAAAAAAAAAAAAAAA".to_owned()]);
        assert!(!open.made("AKIAAAAAAAAAAAAAAAAA"));
        assert!(open.made("AKIACCCCCCCCCCCCCCCC"));
        assert!(open.made("AKIAPERSONSNEWKEY000"));
        let done = open.completed("AKIACCCCCCCCCCCCCCCC");
        assert!(done.made("AKIACCCCCCCCCCCCCCCC"));
        assert!(!done.made("AKIAPERSONSNEWKEY000"));
        assert!(!done.made("AKIAAAAAAAAAAAAAAAAA"));
    }

    #[test]
    fn foreign_values_are_not_intents() {
        for v in [
            "",
            "abc",
            "tok-1",
            "zz:1:none",
            &format!("{}:x:none", "a".repeat(32)),
            &format!("{}:1:none:", "a".repeat(32)),
            &format!("{}:1:none:AKIA.X", "a".repeat(32)),
        ] {
            assert_eq!(Intent::from_tag_value(v), None, "{v}");
        }
    }
}
