//! The verdict on one secret's rotation (kind `secret`), from ListSecrets metadata alone.

use super::{Judgement, Verdict, DAY};
use crate::aws::secret_list::SecretFacts;
use crate::time::rfc3339;

/// One verdict per secret:
/// - rotation off: NON_COMPLIANT;
/// - AWSPENDING on a version that is not AWSCURRENT (a rotation that stopped): NON_COMPLIANT;
/// - a rotation secret of this project (`untracked`: tagged `RotationType=iam-access-key`,
///   rotation on) with no key-id tags, created more than a day ago: NON_COMPLIANT (the rotator
///   has never finished a rotation for it, so which keys it holds is unknown);
/// - the last rotation (or the creation, if never rotated) older than the schedule allows plus a
///   day, or the next rotation date more than a day past: NON_COMPLIANT (overdue);
/// - otherwise COMPLIANT.
pub fn judge_secret(s: &SecretFacts, untracked: bool, now: i64) -> Judgement {
    use Verdict::*;
    if !s.rotation_enabled {
        return Judgement::new(NonCompliant, "rotation disabled");
    }
    if let Some(version) = s.stuck_version() {
        let mut reason = format!(
            "a rotation stopped: AWSPENDING is on version {version}, not on AWSCURRENT; run Status on the rotator, which names its key and whether the rotator made it"
        );
        // A hint only: whoever can tag the secret can set it (the rotator no longer does).
        if let Some(key) = &s.pending_key {
            reason.push_str(&format!(
                " (the secret's tag KeyRotationPendingAccessKeyId, which its writers can set, names {key})"
            ));
        }
        return Judgement::new(NonCompliant, reason);
    }
    if let Some(created) = s.created.filter(|c| untracked && now - c > DAY) {
        return Judgement::new(
            NonCompliant,
            format!(
                "rotation secret with no key-id tags: the rotator has never finished a rotation for it (created {})",
                rfc3339(created)
            ),
        );
    }
    let last = s.last_rotated.or(s.created);
    let what = if s.last_rotated.is_some() {
        "last rotated"
    } else {
        "never rotated; created"
    };
    if let (Some(days), Some(last)) = (s.every_days, last) {
        if now - last > (days + 1) * DAY {
            return Judgement::new(
                NonCompliant,
                format!(
                    "rotation overdue: {what} {} ({} days ago), schedule every {days} days",
                    rfc3339(last),
                    (now - last) / DAY
                ),
            );
        }
    }
    if let Some(next) = s.next_rotation.filter(|n| now - n > DAY) {
        return Judgement::new(
            NonCompliant,
            format!(
                "rotation overdue: the next rotation was due {}",
                rfc3339(next)
            ),
        );
    }
    let schedule = match (s.every_days, &s.schedule) {
        (Some(d), _) => format!("every {d} days"),
        (None, Some(e)) => format!("on schedule {e}"),
        (None, None) => "on a schedule".to_owned(),
    };
    let since = last.map_or_else(String::new, |l| format!(", {what} {}", rfc3339(l)));
    Judgement::new(Compliant, format!("rotation {schedule}{since}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::secret_list::schedule_days;

    const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z

    fn on(every: i64, last_days_ago: i64) -> SecretFacts {
        SecretFacts {
            arn: "arn:s".into(),
            name: "s".into(),
            rotation_enabled: true,
            every_days: Some(every),
            last_rotated: Some(NOW - last_days_ago * DAY),
            created: Some(NOW - 400 * DAY),
            stages: vec![("v1".into(), vec!["AWSCURRENT".into()])],
            ..SecretFacts::default()
        }
    }

    #[test]
    fn secret_verdict_table() {
        use Verdict::*;
        let stuck = SecretFacts {
            stages: vec![
                ("v1".into(), vec!["AWSCURRENT".into()]),
                ("v2".into(), vec!["AWSPENDING".into()]),
            ],
            pending_key: Some("AKIAPEND".into()),
            ..on(30, 3)
        };
        let never = SecretFacts {
            last_rotated: None,
            created: Some(NOW - 40 * DAY),
            ..on(30, 0)
        };
        let rows: Vec<(&str, SecretFacts, Verdict, &str)> = vec![
            (
                "rotation off",
                SecretFacts::default(),
                NonCompliant,
                "rotation disabled",
            ),
            (
                "rotated 29 days ago, every 30",
                on(30, 29),
                Compliant,
                "rotation every 30 days, last rotated",
            ),
            (
                "31 days: inside the day of slack",
                on(30, 31),
                Compliant,
                "every 30 days",
            ),
            (
                "32 days: overdue",
                on(30, 32),
                NonCompliant,
                "rotation overdue: last rotated",
            ),
            ("stuck", stuck, NonCompliant, "AWSPENDING is on version v2, not on AWSCURRENT; run Status on the rotator, which names its key and whether the rotator made it (the secret's tag KeyRotationPendingAccessKeyId, which its writers can set, names AKIAPEND)"),
            (
                "never rotated, created 40 days ago",
                never,
                NonCompliant,
                "never rotated; created",
            ),
            (
                "next rotation two days past",
                SecretFacts {
                    every_days: None,
                    schedule: Some("cron(0 8 1 * ? *)".into()),
                    next_rotation: Some(NOW - 2 * DAY),
                    ..on(30, 3)
                },
                NonCompliant,
                "the next rotation was due",
            ),
        ];
        for (name, facts, verdict, reason) in rows {
            let j = judge_secret(&facts, false, NOW);
            assert_eq!(j.verdict, verdict, "{name}: {}", j.reason);
            assert!(j.reason.contains(reason), "{name}: {}", j.reason);
        }
        // AWSPENDING on the current version is a finished rotation (moto leaves it so).
        let done = SecretFacts {
            stages: vec![("v1".into(), vec!["AWSCURRENT".into(), "AWSPENDING".into()])],
            ..on(30, 3)
        };
        assert_eq!(judge_secret(&done, false, NOW).verdict, Compliant);
    }

    #[test]
    fn a_rotation_secret_the_rotator_never_finished_is_non_compliant_after_a_day() {
        use Verdict::*;
        let created = |days_ago: i64| SecretFacts {
            last_rotated: None,
            created: Some(NOW - days_ago * DAY),
            ..on(30, 0)
        };
        let j = judge_secret(&created(2), true, NOW);
        assert_eq!(j.verdict, NonCompliant, "{}", j.reason);
        assert_eq!(
            j.reason,
            "rotation secret with no key-id tags: the rotator has never finished a rotation for it (created 2027-01-13T08:00:00Z)"
        );
        // Inside its first day (the first rotation may still be under way), or with key-id tags.
        assert_eq!(judge_secret(&created(0), true, NOW).verdict, Compliant);
        assert_eq!(judge_secret(&created(2), false, NOW).verdict, Compliant);
        // Rotation off, or stopped, says so first.
        let off = SecretFacts {
            rotation_enabled: false,
            ..created(2)
        };
        assert_eq!(judge_secret(&off, true, NOW).reason, "rotation disabled");
    }

    #[test]
    fn rate_schedules_have_a_period() {
        assert_eq!(schedule_days("rate(10 days)"), Some(10));
        assert_eq!(schedule_days("rate(1 day)"), Some(1));
        assert_eq!(schedule_days("rate(4 hours)"), Some(1));
        assert_eq!(schedule_days("cron(0 8 1 * ? *)"), None);
    }
}
