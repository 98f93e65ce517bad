//! When a customer-managed KMS key was last used (GetKeyLastUsage), judged: whether it is unused
//! since KMS began tracking it, and whether it is unused long enough (`KMS_UNUSED_DAYS`) to
//! suggest disabling it. Pure: the time is passed in.

use super::DAY;
use crate::aws::kms::LastUsage;
use crate::time::rfc3339;

/// What the audit says about a key's use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyUse {
    /// No use recorded since tracking began (or since the key's creation, when later): since
    /// then (seconds since the epoch).
    pub unused_since_tracking: Option<i64>,
    /// Days without a recorded use, when at least `KMS_UNUSED_DAYS` and the key is Enabled.
    pub unused_for_days: Option<i64>,
    /// The reason line of such a key: `unused since …, consider disabling it`.
    pub line: Option<String>,
}

/// Judges `u` for a key (`enabled`: its state is Enabled; only an enabled key can be
/// disabled) at `now`, with `unused_days` = `KMS_UNUSED_DAYS`.
pub fn key_use(u: &LastUsage, enabled: bool, unused_days: u32, now: i64) -> KeyUse {
    let unused_since_tracking = match (u.last_used, u.tracking_start) {
        (None, Some(start)) => Some(u.key_creation.map_or(start, |c| c.max(start))),
        _ => None,
    };
    let since = u.last_used.or(unused_since_tracking);
    let days = since.map(|s| (now - s).div_euclid(DAY));
    let long = days.filter(|d| enabled && *d >= i64::from(unused_days));
    KeyUse {
        unused_since_tracking,
        unused_for_days: long,
        line: long.and(since).map(|s| {
            let what = if u.last_used.is_some() {
                "last used"
            } else {
                "no use recorded since tracking began"
            };
            format!(
                "unused since {} ({what}, {} days), consider disabling it",
                rfc3339(s),
                long.unwrap_or_default()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn usage(last: Option<i64>, start: Option<i64>, created: Option<i64>) -> LastUsage {
        LastUsage {
            last_used: last,
            operation: last.map(|_| "Decrypt".to_owned()),
            tracking_start: start,
            key_creation: created,
        }
    }

    #[test]
    fn a_key_used_recently_is_neither_unused_nor_flagged() {
        let u = key_use(
            &usage(Some(NOW - 3 * DAY), Some(NOW - 400 * DAY), None),
            true,
            90,
            NOW,
        );
        assert_eq!(u, KeyUse::default());
    }

    #[test]
    fn a_key_last_used_long_ago_gets_its_own_line() {
        let u = key_use(
            &usage(Some(NOW - 120 * DAY), Some(NOW - 400 * DAY), None),
            true,
            90,
            NOW,
        );
        assert_eq!(u.unused_since_tracking, None);
        assert_eq!(u.unused_for_days, Some(120));
        let line = u.line.unwrap();
        assert!(line.starts_with(&format!("unused since {}", rfc3339(NOW - 120 * DAY))));
        assert!(line.ends_with("consider disabling it"), "{line}");
    }

    #[test]
    fn no_use_since_tracking_began_counts_from_the_later_of_tracking_and_creation() {
        // Created before tracking began: unused since tracking began.
        let u = key_use(
            &usage(None, Some(NOW - 100 * DAY), Some(NOW - 900 * DAY)),
            true,
            90,
            NOW,
        );
        assert_eq!(u.unused_since_tracking, Some(NOW - 100 * DAY));
        assert_eq!(u.unused_for_days, Some(100));
        assert!(u
            .line
            .unwrap()
            .contains("no use recorded since tracking began"));
        // Created after: unused since creation, not yet long enough.
        let u = key_use(
            &usage(None, Some(NOW - 100 * DAY), Some(NOW - 10 * DAY)),
            true,
            90,
            NOW,
        );
        assert_eq!(u.unused_since_tracking, Some(NOW - 10 * DAY));
        assert_eq!((u.unused_for_days, u.line), (None, None));
    }

    #[test]
    fn a_key_that_is_not_enabled_is_never_told_to_be_disabled() {
        let u = key_use(&usage(None, Some(NOW - 500 * DAY), None), false, 90, NOW);
        assert_eq!(u.unused_since_tracking, Some(NOW - 500 * DAY));
        assert_eq!((u.unused_for_days, u.line), (None, None));
    }

    #[test]
    fn the_threshold_is_kms_unused_days() {
        let u = |days| key_use(&usage(Some(NOW - 30 * DAY), None, None), true, days, NOW);
        assert_eq!(u(30).unused_for_days, Some(30));
        assert_eq!(u(31).unused_for_days, None);
    }
}
