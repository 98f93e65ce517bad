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
    pub metrics_namespace: String,
    /// Where actions are announced (`NOTIFY_TOPIC_ARN`); `None`: nowhere.
    pub notify_topic_arn: Option<String>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            old_key_idle: Duration::from_secs(24 * 3600),
            old_key_grace_days: 7,
            metrics_namespace: "KeyRotation".to_owned(),
            notify_topic_arn: None,
        }
    }
}

impl Shared {
    pub const ENV_VARS: &'static [&'static str] = &[
        "OLD_KEY_IDLE_HOURS",
        "OLD_KEY_GRACE_DAYS",
        "METRICS_NAMESPACE",
        "NOTIFY_TOPIC_ARN",
    ];

    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
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
        })
    }
}
