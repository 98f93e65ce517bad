//! The one clock of both functions: epoch seconds and milliseconds, RFC 3339 dates.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now (EMF timestamps).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds since the epoch, as verdicts and plans are judged: the wall clock in a Lambda, a
/// fixed or moving time in tests.
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

/// The invocation deadline the Lambda context gives (milliseconds since the epoch, 0 when
/// unknown) as an `Instant`; `None` when unknown or already past.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = now_ms();
    (deadline_ms > now_ms)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms - now_ms))
}

/// RFC 3339 / ISO 8601 in UTC, second precision (`2026-11-22T09:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Parses an RFC 3339 date as written by this project (`Z`) or by `aws iam create-access-key`
/// (`+00:00`), to seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_accepts_offsets() {
        assert_eq!(rfc3339(1_795_338_000), "2026-11-22T09:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-22T09:00:00Z"), Some(1_795_338_000));
        assert_eq!(
            parse_rfc3339("2026-11-22T10:00:00+01:00"),
            Some(1_795_338_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T09:00:00+00:00"),
            Some(1_795_338_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T04:00:00-05:00"),
            Some(1_795_338_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-11-22T09:00:00+0a:00"), None);
    }
}
