//! The intent record: one user tag written before createSecret changes anything, so a retry can
//! tell a key its own interrupted attempt made (an orphan) from a key a person made.
//!
//! The value is always a valid IAM tag value whatever the token holds: a SHA-256 digest of the
//! token, the time, and the ids of the keys the user had then (`<digest>:<epoch>:<id>.<id>`,
//! or `none` for no keys). Key ids are `[A-Z0-9]`, so `.` and `:` never occur inside them.

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
        format!("{}:{}:{keys}", self.token_digest, self.at)
    }

    /// Reads a tag value back; `None` when it is not one this module wrote.
    pub fn from_tag_value(value: &str) -> Option<Intent> {
        let mut parts = value.splitn(3, ':');
        let digest = parts.next()?;
        let at = parts.next()?.parse().ok()?;
        let keys = parts.next()?;
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
                let i = Intent::new(token, 1_795_338_000, keys);
                let v = i.to_tag_value();
                assert!(valid_tag_value(&v), "{v}");
                let back = Intent::from_tag_value(&v).unwrap();
                assert_eq!(back, i);
                assert!(back.is_for(token));
                assert!(!back.is_for("another token"));
            }
        }
    }

    #[test]
    fn foreign_values_are_not_intents() {
        for v in [
            "",
            "abc",
            "tok-1",
            "zz:1:none",
            &format!("{}:x:none", "a".repeat(32)),
        ] {
            assert_eq!(Intent::from_tag_value(v), None, "{v}");
        }
    }
}
