//! Typed configuration of `rotate-access-key`, read from the environment once at start-up.

use crate::settings::{parse_bool, parse_var, ConfigError, Shared};
use std::time::Duration;

/// What finishSecret does with the key the rotation replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKeyAction {
    /// Leave it Active: consumers that cache the secret still hold it. The audit's sweep
    /// deactivates it once IAM shows it unused for `OLD_KEY_IDLE_HOURS`.
    DeactivateWhenIdle,
    /// Deactivate it now.
    Deactivate,
    /// Delete it now.
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnmanagedKeyAction {
    #[default]
    Fail,
    Delete,
}

#[derive(Debug, Clone)]
pub struct RotationConfig {
    /// What both functions read alike: the replaced key's retirement windows, the metrics
    /// namespace, the topic Rollback and Cancel are announced on.
    pub shared: Shared,
    pub old_key_action: OldKeyAction,
    pub unmanaged_key_action: UnmanagedKeyAction,
    pub test_timeout: Duration,
    /// The role every IAM call for a rotation's user goes through (`KEY_WRITER_ROLE_ARN`),
    /// assumed once per secret with the session tag `KeyRotationSecret=<secret ARN>`; `None`:
    /// the function's own credentials (local runs).
    pub key_writer_role_arn: Option<String>,
    /// `OPERATOR_ACTIONS=true`: this is the operator deployment, which accepts Status, Rollback
    /// and Cancel; the rotator Secrets Manager invokes refuses them.
    pub operator_actions: bool,
}

impl Default for RotationConfig {
    fn default() -> Self {
        Self {
            shared: Shared::default(),
            old_key_action: OldKeyAction::DeactivateWhenIdle,
            unmanaged_key_action: UnmanagedKeyAction::Fail,
            test_timeout: Duration::from_secs(60),
            key_writer_role_arn: None,
            operator_actions: false,
        }
    }
}

impl RotationConfig {
    /// Every environment variable `rotate-access-key` reads.
    pub const ENV_VARS: &'static [&'static str] = &[
        "OLD_KEY_ACTION",
        "OLD_KEY_IDLE_HOURS",
        "OLD_KEY_GRACE_DAYS",
        "OLD_KEY_MAX_WAIT_DAYS",
        "OLD_KEY_FORCE_DAYS",
        "UNMANAGED_KEY_ACTION",
        "TEST_TIMEOUT_SECONDS",
        "METRICS_NAMESPACE",
        "NOTIFY_TOPIC_ARN",
        "KEY_WRITER_ROLE_ARN",
        "OPERATOR_ACTIONS",
    ];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            shared: Shared::from_lookup(&lookup)?,
            old_key_action: parse_var(
                &lookup,
                "OLD_KEY_ACTION",
                d.old_key_action,
                "deactivate-when-idle, deactivate or delete",
                |v| match v.to_ascii_lowercase().as_str() {
                    "deactivate-when-idle" => Some(OldKeyAction::DeactivateWhenIdle),
                    "deactivate" => Some(OldKeyAction::Deactivate),
                    "delete" => Some(OldKeyAction::Delete),
                    _ => None,
                },
            )?,
            unmanaged_key_action: parse_var(
                &lookup,
                "UNMANAGED_KEY_ACTION",
                d.unmanaged_key_action,
                "fail or delete",
                |v| match v.to_ascii_lowercase().as_str() {
                    "fail" => Some(UnmanagedKeyAction::Fail),
                    "delete" => Some(UnmanagedKeyAction::Delete),
                    _ => None,
                },
            )?,
            key_writer_role_arn: parse_var(
                &lookup,
                "KEY_WRITER_ROLE_ARN",
                None,
                "an IAM role ARN, or empty",
                |v| {
                    let v = v.trim();
                    if v.is_empty() {
                        Some(None)
                    } else {
                        crate::arn::Arn::parse(v)
                            .filter(|a| a.is_iam_role())
                            .map(|_| Some(v.to_owned()))
                    }
                },
            )?,
            operator_actions: parse_var(
                &lookup,
                "OPERATOR_ACTIONS",
                false,
                "true or false",
                parse_bool,
            )?,
            test_timeout: parse_var(
                &lookup,
                "TEST_TIMEOUT_SECONDS",
                d.test_timeout,
                "whole seconds between 1 and 840",
                |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| (1..=840).contains(n))
                        .map(Duration::from_secs)
                },
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::lookup;

    fn cfg(pairs: &[(&str, &str)]) -> Result<RotationConfig, ConfigError> {
        RotationConfig::from_lookup(lookup(pairs))
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.old_key_action, OldKeyAction::DeactivateWhenIdle);
        assert_eq!(c.unmanaged_key_action, UnmanagedKeyAction::Fail);
        assert_eq!(c.test_timeout, Duration::from_secs(60));
        assert_eq!((c.key_writer_role_arn, c.operator_actions), (None, false));
        assert_eq!(c.shared, Shared::default());
    }

    #[test]
    fn parses_every_variable() {
        let c = cfg(&[
            ("OLD_KEY_ACTION", "Delete"),
            ("OLD_KEY_IDLE_HOURS", "0.5"),
            ("UNMANAGED_KEY_ACTION", "delete"),
            ("TEST_TIMEOUT_SECONDS", "15"),
            (
                "KEY_WRITER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/key-writer",
            ),
            ("OPERATOR_ACTIONS", "true"),
            ("OLD_KEY_MAX_WAIT_DAYS", "2"),
            ("OLD_KEY_FORCE_DAYS", "10"),
        ])
        .unwrap();
        assert_eq!(
            (c.shared.old_key_max_wait_days, c.shared.old_key_force_days),
            (2, 10)
        );
        assert_eq!(
            c.key_writer_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/key-writer")
        );
        assert!(c.operator_actions);
        assert_eq!(c.old_key_action, OldKeyAction::Delete);
        assert_eq!(c.shared.old_key_idle, Duration::from_secs(1800));
        assert_eq!(
            cfg(&[("OLD_KEY_ACTION", "Deactivate-When-Idle")])
                .unwrap()
                .old_key_action,
            OldKeyAction::DeactivateWhenIdle
        );
        assert_eq!(c.unmanaged_key_action, UnmanagedKeyAction::Delete);
        assert_eq!(c.test_timeout, Duration::from_secs(15));
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        let e = cfg(&[("OLD_KEY_ACTION", "shred")]).unwrap_err();
        assert_eq!(e.var, "OLD_KEY_ACTION");
        assert!(e
            .to_string()
            .contains("deactivate-when-idle, deactivate or delete"));
        for (var, bad) in [
            ("TEST_TIMEOUT_SECONDS", "0"),
            ("UNMANAGED_KEY_ACTION", "ignore"),
            ("OLD_KEY_IDLE_HOURS", "-1"),
            (
                "KEY_WRITER_ROLE_ARN",
                "arn:aws:iam::123456789012:user/not-a-role",
            ),
            ("OPERATOR_ACTIONS", "yes please"),
            ("OLD_KEY_MAX_WAIT_DAYS", "forever"),
            ("OLD_KEY_FORCE_DAYS", "7"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var);
        }
    }
}
