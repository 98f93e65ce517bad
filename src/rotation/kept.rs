//! What a warm container keeps between the steps of one rotation: the values of secret versions
//! it stored or read by version id.
//!
//! A version's value never changes once stored (PutSecretValue refuses another value under an
//! existing version id), so a value kept here is exactly what GetSecretValue would answer for
//! that version. What can change, the stages, is still read fresh by every step's guard, and a
//! kept value is served only for a version the guard's read shows carrying the stage asked for.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most values kept (one rotation needs one: its pending version).
const MAX_KEPT: usize = 8;
/// Long enough for the four steps of a rotation, short enough that a secret access key does not
/// stay in memory for the container's life.
const KEEP_FOR: Duration = Duration::from_secs(15 * 60);

struct Kept {
    secret: String,
    version: String,
    value: SecretString,
    at: Instant,
}

#[derive(Default)]
pub struct VersionValues {
    kept: Mutex<Vec<Kept>>,
}

impl VersionValues {
    /// The value of `version` of `secret`, if this container stored or read it recently.
    pub fn get(&self, secret: &str, version: &str) -> Option<SecretString> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k| k.at.elapsed() < KEEP_FOR);
        kept.iter()
            .find(|k| k.secret == secret && k.version == version)
            .map(|k| SecretString::from(k.value.expose_secret().to_owned()))
    }

    pub fn put(&self, secret: &str, version: &str, value: &SecretString) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k| k.at.elapsed() < KEEP_FOR && !(k.secret == secret && k.version == version));
        if kept.len() >= MAX_KEPT {
            kept.remove(0);
        }
        kept.push(Kept {
            secret: secret.to_owned(),
            version: version.to_owned(),
            value: SecretString::from(value.expose_secret().to_owned()),
            at: Instant::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_by_secret_and_version_and_forgets_the_oldest() {
        let v = VersionValues::default();
        v.put("s1", "a", &SecretString::from("one"));
        v.put("s2", "a", &SecretString::from("two"));
        assert_eq!(v.get("s1", "a").unwrap().expose_secret(), "one");
        assert_eq!(v.get("s2", "a").unwrap().expose_secret(), "two");
        assert!(v.get("s1", "b").is_none());
        for i in 0..MAX_KEPT {
            v.put("s3", &i.to_string(), &SecretString::from("x"));
        }
        assert!(v.get("s1", "a").is_none());
        assert!(v.get("s3", "0").is_some());
    }
}
