//! Exemptions (CONTRACT §5): a KMS key or an IAM user tagged `KeyRotationExempt` = `<reason>`
//! and `KeyRotationExemptUntil` = `YYYY-MM-DD` is EXEMPT instead of NON_COMPLIANT until that day
//! (its last day, UTC, as the audit's clock reads it), at most [`MAX_DAYS`] ahead. Without a valid
//! expiry, or once it has passed, the exemption is not honoured: the verdict stands and the
//! reason says why the exemption was ignored. Whoever may tag a resource can exempt it, so an
//! exemption always ends and is always shown.

use super::{Verdict, DAY};
use chrono::{DateTime, NaiveDate};
use serde::Serialize;

/// The tag that exempts a KMS key or an IAM user from the audit's verdict; its value is the
/// reason.
pub const EXEMPT_TAG: &str = "KeyRotationExempt";

/// The last day an exemption is honoured, `YYYY-MM-DD` (UTC).
pub const EXEMPT_UNTIL_TAG: &str = "KeyRotationExemptUntil";

/// How far ahead of the audit's clock an expiry may be, in days.
pub const MAX_DAYS: i64 = 365;

/// An exemption whose last day is at most this many days ahead is expiring soon.
pub const SOON_DAYS: i64 = 14;

/// The exemption tags of one resource, as read (None: no such tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExemptionTags {
    pub reason: Option<String>,
    pub until: Option<String>,
}

impl ExemptionTags {
    /// The two tags from a lookup by key.
    pub fn from_lookup<'a>(tag: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            reason: tag(EXEMPT_TAG).map(str::to_owned),
            until: tag(EXEMPT_UNTIL_TAG).map(str::to_owned),
        }
    }
}

/// An honoured exemption: its reason and its last day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    pub reason: String,
    /// The last day it is honoured (`YYYY-MM-DD`, UTC).
    pub until: String,
    /// Days from the audit's day to `until` (0: the last day).
    pub expires_in_days: i64,
    /// `until` is at most [`SOON_DAYS`] away.
    pub expiring_soon: bool,
}

/// What a resource's exemption tags amount to on the audit's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExemptionStatus {
    /// Neither tag: nothing to say.
    None,
    Honoured(Exemption),
    /// Tagged, not honoured: why.
    Ignored(String),
}

/// Longest part of a malformed expiry repeated in a reason (it is free text of whoever tagged).
const ECHO_CHARS: usize = 24;

/// Judges the tags at `now` (seconds since the epoch, the audit's clock).
pub fn exemption_status(tags: &ExemptionTags, now: i64) -> ExemptionStatus {
    let reason = tags.reason.as_deref().map(str::trim);
    let until = tags.until.as_deref().map(str::trim);
    if reason.is_none() && until.is_none() {
        return ExemptionStatus::None;
    }
    let Some(reason) = reason.filter(|r| !r.is_empty()) else {
        return ExemptionStatus::Ignored(format!("{EXEMPT_TAG} (the reason) missing or empty"));
    };
    let Some(until) = until.filter(|u| !u.is_empty()) else {
        return ExemptionStatus::Ignored(format!("{EXEMPT_UNTIL_TAG} missing"));
    };
    let Some(last_day) = parse_day(until) else {
        let echo: String = until.chars().take(ECHO_CHARS).collect();
        let more = if until.chars().count() > ECHO_CHARS {
            "…"
        } else {
            ""
        };
        return ExemptionStatus::Ignored(format!(
            "{EXEMPT_UNTIL_TAG} {echo:?}{more} is not a date (YYYY-MM-DD)"
        ));
    };
    let today = day_of(now);
    let days = (last_day - today).num_days();
    if days < 0 {
        return ExemptionStatus::Ignored(format!("{EXEMPT_UNTIL_TAG} {last_day} has passed"));
    }
    if days > MAX_DAYS {
        return ExemptionStatus::Ignored(format!(
            "{EXEMPT_UNTIL_TAG} {last_day} is more than {MAX_DAYS} days ahead"
        ));
    }
    ExemptionStatus::Honoured(Exemption {
        reason: reason.to_owned(),
        until: last_day.to_string(),
        expires_in_days: days,
        expiring_soon: days <= SOON_DAYS,
    })
}

/// What an exemption makes of a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exempted {
    pub verdict: Verdict,
    pub reason: String,
    /// Set when the exemption is honoured (the verdict is then EXEMPT).
    pub exemption: Option<Exemption>,
}

/// A NON_COMPLIANT verdict becomes EXEMPT when the tags hold a reason and a valid expiry; when
/// they do not, it stays NON_COMPLIANT and its reason says why the exemption was ignored. None:
/// nothing changes (no exemption tag, or a verdict that is not a failure).
pub fn apply_exemption(
    verdict: Verdict,
    reason: &str,
    tags: &ExemptionTags,
    now: i64,
) -> Option<Exempted> {
    if verdict != Verdict::NonCompliant {
        return None;
    }
    match exemption_status(tags, now) {
        ExemptionStatus::None => None,
        ExemptionStatus::Ignored(why) => Some(Exempted {
            verdict,
            reason: format!("{reason}; exemption ignored: {why}"),
            exemption: None,
        }),
        ExemptionStatus::Honoured(e) => {
            let soon = if e.expiring_soon {
                format!(
                    " (expires in {} day{})",
                    e.expires_in_days,
                    if e.expires_in_days == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            };
            Some(Exempted {
                verdict: Verdict::Exempt,
                reason: format!(
                    "exempt ({EXEMPT_TAG}) until {}{soon}: {}; would be non-compliant: {reason}",
                    e.until, e.reason
                ),
                exemption: Some(e),
            })
        }
    }
}

/// `YYYY-MM-DD` exactly (four, two and two digits), a real day.
fn parse_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)
}

/// The UTC day of `now`.
fn day_of(now: i64) -> NaiveDate {
    DateTime::from_timestamp(now.div_euclid(DAY) * DAY, 0)
        .map_or(NaiveDate::MIN, |d| d.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    const NOW: i64 = super::super::fixtures::NOW; // 2027-01-15T08:00:00Z

    fn tags(reason: Option<&str>, until: Option<&str>) -> ExemptionTags {
        ExemptionTags {
            reason: reason.map(Into::into),
            until: until.map(Into::into),
        }
    }

    /// Every case of the two tags on a NON_COMPLIANT finding, on 2027-01-15: the verdict, and
    /// what the reason must say.
    #[test]
    fn exemption_table() {
        let r = Some("HSM-backed, rotated by hand");
        for (name, tags, verdict, says, until, soon) in [
            (
                "valid",
                tags(r, Some("2027-06-30")),
                Exempt,
                "exempt (KeyRotationExempt) until 2027-06-30: HSM-backed, rotated by hand; \
                 would be non-compliant: rotation disabled",
                Some("2027-06-30"),
                false,
            ),
            (
                "padded",
                tags(Some(" HSM "), Some(" 2027-06-30 ")),
                Exempt,
                "until 2027-06-30: HSM;",
                Some("2027-06-30"),
                false,
            ),
            (
                "last day today",
                tags(r, Some("2027-01-15")),
                Exempt,
                "until 2027-01-15 (expires in 0 days)",
                Some("2027-01-15"),
                true,
            ),
            (
                "within 14 days",
                tags(r, Some("2027-01-29")),
                Exempt,
                "until 2027-01-29 (expires in 14 days)",
                Some("2027-01-29"),
                true,
            ),
            (
                "15 days ahead",
                tags(r, Some("2027-01-30")),
                Exempt,
                "until 2027-01-30: HSM",
                Some("2027-01-30"),
                false,
            ),
            (
                "365 days ahead",
                tags(r, Some("2028-01-15")),
                Exempt,
                "until 2028-01-15",
                Some("2028-01-15"),
                false,
            ),
            (
                "missing",
                tags(r, None),
                NonCompliant,
                "rotation disabled; exemption ignored: KeyRotationExemptUntil missing",
                None,
                false,
            ),
            (
                "empty",
                tags(r, Some(" ")),
                NonCompliant,
                "exemption ignored: KeyRotationExemptUntil missing",
                None,
                false,
            ),
            (
                "malformed",
                tags(r, Some("30/06/2027")),
                NonCompliant,
                "exemption ignored: KeyRotationExemptUntil \"30/06/2027\" is not a date (YYYY-MM-DD)",
                None,
                false,
            ),
            (
                "not a day",
                tags(r, Some("2027-02-30")),
                NonCompliant,
                "is not a date",
                None,
                false,
            ),
            (
                "short fields",
                tags(r, Some("2027-6-30")),
                NonCompliant,
                "is not a date",
                None,
                false,
            ),
            (
                "a timestamp",
                tags(r, Some("2027-06-30T00:00:00Z")),
                NonCompliant,
                "is not a date",
                None,
                false,
            ),
            (
                "long garbage is cut",
                tags(r, Some("9".repeat(200).as_str())),
                NonCompliant,
                format!("\"{}\"… is not a date", "9".repeat(24)).as_str(),
                None,
                false,
            ),
            (
                "past",
                tags(r, Some("2027-01-14")),
                NonCompliant,
                "rotation disabled; exemption ignored: KeyRotationExemptUntil 2027-01-14 has passed",
                None,
                false,
            ),
            (
                "more than 365 days ahead",
                tags(r, Some("2028-01-16")),
                NonCompliant,
                "exemption ignored: KeyRotationExemptUntil 2028-01-16 is more than 365 days ahead",
                None,
                false,
            ),
            (
                "far future",
                tags(r, Some("9999-12-31")),
                NonCompliant,
                "is more than 365 days ahead",
                None,
                false,
            ),
            (
                "expiry without a reason",
                tags(None, Some("2027-06-30")),
                NonCompliant,
                "exemption ignored: KeyRotationExempt (the reason) missing or empty",
                None,
                false,
            ),
            (
                "empty reason",
                tags(Some("  "), Some("2027-06-30")),
                NonCompliant,
                "exemption ignored: KeyRotationExempt (the reason) missing or empty",
                None,
                false,
            ),
        ] {
            let got = apply_exemption(NonCompliant, "rotation disabled", &tags, NOW)
                .unwrap_or_else(|| panic!("{name}: tagged, so the reason must say something"));
            assert_eq!(got.verdict, verdict, "{name}: {got:?}");
            assert!(got.reason.contains(says), "{name}: {:?} lacks {says:?}", got.reason);
            assert_eq!(
                got.exemption.as_ref().map(|e| e.until.as_str()),
                until,
                "{name}"
            );
            assert_eq!(
                got.exemption.as_ref().is_some_and(|e| e.expiring_soon),
                soon,
                "{name}"
            );
            if verdict == NonCompliant {
                assert!(got.reason.starts_with("rotation disabled; "), "{name}");
            }
        }
    }

    #[test]
    fn the_day_is_the_audit_clocks_utc_day() {
        let last_day = tags(Some("why"), Some("2027-01-15"));
        // The whole of the last day (UTC) is inside, the next day's first second is not.
        let start_of_day = NOW - NOW.rem_euclid(DAY);
        for now in [start_of_day, NOW, start_of_day + DAY - 1] {
            let e = apply_exemption(NonCompliant, "r", &last_day, now).unwrap();
            assert_eq!(e.verdict, Exempt, "{now}");
            assert_eq!(e.exemption.unwrap().expires_in_days, 0);
        }
        let e = apply_exemption(NonCompliant, "r", &last_day, start_of_day + DAY).unwrap();
        assert_eq!(e.verdict, NonCompliant);
        assert!(e.reason.contains("2027-01-15 has passed"), "{}", e.reason);
        // A year ahead is measured from the same clock.
        let next_year = tags(Some("why"), Some("2028-01-15"));
        assert_eq!(
            apply_exemption(NonCompliant, "r", &next_year, NOW)
                .unwrap()
                .verdict,
            Exempt
        );
        assert_eq!(
            apply_exemption(NonCompliant, "r", &next_year, NOW - DAY)
                .unwrap()
                .verdict,
            NonCompliant
        );
    }

    #[test]
    fn only_a_failing_verdict_with_a_tag_changes() {
        let valid = tags(Some("why"), Some("2027-06-30"));
        for v in [Compliant, NotApplicable, Error, Exempt] {
            assert_eq!(apply_exemption(v, "r", &valid, NOW), None, "{v:?}");
            assert_eq!(
                apply_exemption(v, "r", &tags(Some("why"), None), NOW),
                None,
                "{v:?}"
            );
        }
        // No tag at all: nothing to say.
        assert_eq!(
            apply_exemption(NonCompliant, "r", &tags(None, None), NOW),
            None
        );
        assert_eq!(
            exemption_status(&tags(None, None), NOW),
            ExemptionStatus::None
        );
    }

    #[test]
    fn tags_are_read_by_their_keys() {
        let on_resource = [
            ("KeyRotationExempt", "why"),
            ("KeyRotationExemptUntil", "2027-06-30"),
            ("Owner", "team"),
        ];
        let t = ExemptionTags::from_lookup(|k| {
            on_resource
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
        });
        assert_eq!(t, tags(Some("why"), Some("2027-06-30")));
    }
}
