//! Time helpers shared by both functions: epoch seconds and RFC 3339 rendering.

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The invocation deadline the Lambda context gives (milliseconds since the epoch, 0 when
/// unknown) as an `Instant`; `None` when unknown or already past.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (deadline_ms > now_ms)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms - now_ms))
}

/// RFC 3339 / ISO 8601 in UTC, second precision (`2026-11-22T09:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// Parses an RFC 3339 date as written by this project (`Z`) or by `aws iam create-access-key`
/// (`+00:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = DateTime::from_str(s, Format::DateTime) {
        return Some(d.secs());
    }
    // A numeric offset: `±HH:MM` at the end.
    let (head, offset) = s.split_at(s.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let offset_secs = sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60);
    let utc = DateTime::from_str(&format!("{head}Z"), Format::DateTime).ok()?;
    Some(utc.secs() - offset_secs)
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
