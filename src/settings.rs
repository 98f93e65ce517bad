//! Reading settings from environment variables: the parser both functions use, its error, and
//! the settings they share (a replaced key's retirement, metrics, notifications).

use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid configuration: {var}={value:?}: expected {expected}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Reads one variable through `lookup`; unset or empty means the default.
pub fn parse_var<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    expected: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ConfigError> {
    match lookup(var).map(|v| v.trim().to_owned()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => parse(&v).ok_or(ConfigError {
            var,
            value: v,
            expected,
        }),
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// A comma-separated list; blanks are dropped.
pub fn parse_list(v: &str) -> Option<Vec<String>> {
    Some(
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Whole days, at most `max`.
pub fn parse_days(v: &str, min: u32, max: u32) -> Option<u32> {
    v.parse::<u32>().ok().filter(|n| (min..=max).contains(n))
}

/// Hours, decimals allowed (`0.5`), between 0 and a year.
pub fn parse_hours(v: &str) -> Option<Duration> {
    let hours: f64 = v.parse().ok()?;
    (hours.is_finite() && (0.0..=8760.0).contains(&hours))
        .then(|| Duration::from_secs_f64(hours * 3600.0))
}

/// An SNS topic ARN.
pub fn parse_topic_arn(v: &str) -> Option<Option<String>> {
    crate::arn::Arn::parse(v)
        .filter(|a| a.service == "sns" && !a.resource.is_empty())
        .map(|_| Some(v.to_owned()))
}

/// The settings both functions read, with the same meaning and the same checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// How long a replaced key must be unused before the sweep deactivates it.
    pub old_key_idle: Duration,
    /// Days a deactivated replaced key is kept before the sweep deletes it.
    pub old_key_grace_days: u32,
    /// Days after the switch when an idle replaced key is deactivated even though the current
    /// key is still unused (dormant consumers).
    pub old_key_max_wait_days: u32,
    /// Days after the switch when a replaced key is deactivated whatever its use (the hard stop).
    pub old_key_force_days: u32,
    pub metrics_namespace: String,
    /// Where actions are announced (`NOTIFY_TOPIC_ARN`); `None`: nowhere.
    pub notify_topic_arn: Option<String>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            old_key_idle: Duration::from_secs(24 * 3600),
            old_key_grace_days: 7,
            old_key_max_wait_days: 7,
            old_key_force_days: 30,
            metrics_namespace: "KeyRotation".to_owned(),
            notify_topic_arn: None,
        }
    }
}

impl Shared {
    /// The notifier of operator actions and the sweep: NOTIFY_TOPIC_ARN through `sns`, when both
    /// are there.
    pub fn notifier(&self, sns: Option<crate::aws::sns::Sns>) -> Option<crate::aws::sns::Notifier> {
        self.notify_topic_arn
            .as_deref()
            .zip(sns)
            .map(|(topic, sns)| crate::aws::sns::Notifier::on(sns, topic))
    }

    pub const ENV_VARS: &'static [&'static str] = &[
        "OLD_KEY_IDLE_HOURS",
        "OLD_KEY_GRACE_DAYS",
        "OLD_KEY_MAX_WAIT_DAYS",
        "OLD_KEY_FORCE_DAYS",
        "METRICS_NAMESPACE",
        "NOTIFY_TOPIC_ARN",
    ];

    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let shared = Self {
            old_key_idle: parse_var(
                lookup,
                "OLD_KEY_IDLE_HOURS",
                d.old_key_idle,
                "hours (0-8760, decimals allowed)",
                parse_hours,
            )?,
            old_key_grace_days: parse_var(
                lookup,
                "OLD_KEY_GRACE_DAYS",
                d.old_key_grace_days,
                "a whole number of days (0-3650)",
                |v| parse_days(v, 0, 3650),
            )?,
            old_key_max_wait_days: parse_var(
                lookup,
                "OLD_KEY_MAX_WAIT_DAYS",
                d.old_key_max_wait_days,
                "a whole number of days (0-364)",
                |v| parse_days(v, 0, MAX_RETIREMENT_DAYS - 1),
            )?,
            old_key_force_days: parse_var(
                lookup,
                "OLD_KEY_FORCE_DAYS",
                d.old_key_force_days,
                "a whole number of days (1-365)",
                |v| parse_days(v, 1, MAX_RETIREMENT_DAYS),
            )?,
            metrics_namespace: parse_var(
                lookup,
                "METRICS_NAMESPACE",
                d.metrics_namespace,
                "a CloudWatch namespace (1-255 characters)",
                |v| (v.len() <= 255).then(|| v.to_owned()),
            )?,
            notify_topic_arn: parse_var(
                lookup,
                "NOTIFY_TOPIC_ARN",
                d.notify_topic_arn,
                "an SNS topic ARN",
                parse_topic_arn,
            )?,
        };
        // The hard stop comes after the wait for dormant consumers, never before or with it.
        if shared.old_key_force_days <= shared.old_key_max_wait_days {
            return Err(ConfigError {
                var: "OLD_KEY_FORCE_DAYS",
                value: shared.old_key_force_days.to_string(),
                expected: "more days than OLD_KEY_MAX_WAIT_DAYS",
            });
        }
        Ok(shared)
    }
}

/// The longest a replaced key may stay Active after the switch (`OLD_KEY_FORCE_DAYS`): a year.
pub const MAX_RETIREMENT_DAYS: u32 = 365;

/// A lookup over fixed pairs, as tests give the environment.
#[cfg(test)]
pub fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(pairs: &[(&str, &str)]) -> Result<Shared, ConfigError> {
        Shared::from_lookup(&lookup(pairs))
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = shared(&[]).unwrap();
        assert_eq!(s, Shared::default());
        assert_eq!(s.old_key_idle, Duration::from_secs(24 * 3600));
        assert_eq!(s.old_key_grace_days, 7);
        assert_eq!((s.old_key_max_wait_days, s.old_key_force_days), (7, 30));
        assert_eq!(s.metrics_namespace, "KeyRotation");
        assert_eq!(s.notify_topic_arn, None);
    }

    #[test]
    fn parses_every_shared_variable() {
        let s = shared(&[
            ("OLD_KEY_IDLE_HOURS", "0.5"),
            ("OLD_KEY_GRACE_DAYS", "3"),
            ("OLD_KEY_MAX_WAIT_DAYS", "0"),
            ("OLD_KEY_FORCE_DAYS", "14"),
            (
                "NOTIFY_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:key-rotation",
            ),
            ("METRICS_NAMESPACE", "Sec/Keys"),
        ])
        .unwrap();
        assert_eq!(s.old_key_idle, Duration::from_secs(1800));
        assert_eq!(s.old_key_grace_days, 3);
        assert_eq!((s.old_key_max_wait_days, s.old_key_force_days), (0, 14));
        assert_eq!(
            s.notify_topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:key-rotation")
        );
        assert_eq!(s.metrics_namespace, "Sec/Keys");
        assert_eq!(
            shared(&[("OLD_KEY_GRACE_DAYS", "0")])
                .unwrap()
                .old_key_grace_days,
            0
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        for bad in ["-1", "NaN", "inf", "8761", "a day"] {
            let e = shared(&[("OLD_KEY_IDLE_HOURS", bad)]).unwrap_err();
            assert_eq!(e.var, "OLD_KEY_IDLE_HOURS", "{bad}");
            assert!(e.to_string().contains("hours"), "{e}");
        }
        for (var, bad) in [
            ("NOTIFY_TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
            ("NOTIFY_TOPIC_ARN", "topic"),
            ("OLD_KEY_GRACE_DAYS", "-1"),
            ("OLD_KEY_GRACE_DAYS", "3651"),
        ] {
            assert_eq!(shared(&[(var, bad)]).unwrap_err().var, var, "{bad}");
        }
    }

    #[test]
    fn the_hard_stop_comes_after_the_wait_for_dormant_consumers() {
        for (var, bad) in [
            ("OLD_KEY_MAX_WAIT_DAYS", "-1"),
            ("OLD_KEY_MAX_WAIT_DAYS", "365"),
            ("OLD_KEY_MAX_WAIT_DAYS", "a week"),
            ("OLD_KEY_FORCE_DAYS", "0"),
            ("OLD_KEY_FORCE_DAYS", "366"),
            ("OLD_KEY_FORCE_DAYS", "2.5"),
        ] {
            let e = shared(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
            assert!(e.to_string().contains("days"), "{e}");
        }
        // Each alone against the other's default, then together.
        for pairs in [
            &[("OLD_KEY_MAX_WAIT_DAYS", "30")][..],
            &[("OLD_KEY_FORCE_DAYS", "7")][..],
            &[("OLD_KEY_MAX_WAIT_DAYS", "10"), ("OLD_KEY_FORCE_DAYS", "5")][..],
        ] {
            let e = shared(pairs).unwrap_err();
            assert_eq!(e.var, "OLD_KEY_FORCE_DAYS", "{pairs:?}");
            assert!(e.to_string().contains("OLD_KEY_MAX_WAIT_DAYS"), "{e}");
        }
        let s = shared(&[
            ("OLD_KEY_MAX_WAIT_DAYS", "364"),
            ("OLD_KEY_FORCE_DAYS", "365"),
        ])
        .unwrap();
        assert_eq!((s.old_key_max_wait_days, s.old_key_force_days), (364, 365));
        let s = shared(&[("OLD_KEY_MAX_WAIT_DAYS", "0"), ("OLD_KEY_FORCE_DAYS", "1")]).unwrap();
        assert_eq!((s.old_key_max_wait_days, s.old_key_force_days), (0, 1));
    }

    #[test]
    fn booleans_and_lists() {
        for (v, want) in [
            ("true", true),
            ("YES", true),
            ("1", true),
            ("no", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(v), Some(want), "{v}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_list(" a, b,,c ").unwrap(), ["a", "b", "c"]);
    }
}
