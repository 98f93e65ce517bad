//! The sweep's decision on a replaced key: how its retirement stands (moved, waiting for dormant
//! consumers, still in use), when to deactivate it, when to delete it, and its verdict while it
//! is still Active.
//!
//! Secrets' tags select the candidates; they never decide. A key is retired only when its user
//! is bound (IAM user tag, full ARN) to the secret that names it as replaced, that secret does
//! not name it as AWSCURRENT or AWSPENDING, and the rotator recorded it on the user as a key it
//! created for that binding ([`crate::binding::OWN_KEYS_TAG`]). Any other secret's tags are
//! claims: reported, never a reason to keep or retire a key.
//!
//! Every window counts from the switch: when finishSecret made the secret's current key
//! AWSCURRENT ([`switch_of`]). An Active replaced key is deactivated when it is idle (unused for
//! `OLD_KEY_IDLE_HOURS`) and its consumers have moved (the current key used after the switch);
//! when it is idle and `OLD_KEY_MAX_WAIT_DAYS` have passed (dormant consumers); and, whatever
//! its use, `OLD_KEY_FORCE_DAYS` after the switch (the hard stop), announced a day before.

use super::iam::{age_days, Claim, SecretIndex};
use super::{Judgement, Verdict, DAY};
use crate::aws::iam::AccessKey;
use crate::binding::SecretKeyRefs;
use crate::binding::{is_bound, own_keys, switched_at, BINDING_TAG, OWN_KEYS_TAG};
use crate::time::rfc3339;

/// What the sweep does with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sweep {
    /// Not a replaced key of a rotation secret: the sweep leaves it alone, silently.
    NotReplaced,
    /// A replaced key that stays as it is, and why.
    Keep(String),
    /// A replaced key named by secrets of the key's user: what happens to it is decided from
    /// IAM's facts read just before any change ([`sweep_decision`]).
    Check(Candidate),
    /// An Active replaced key of the secret its user is bound to: where its retirement stands,
    /// and whether to deactivate it now ([`Retiring::retire`]).
    Retiring(Retiring),
    /// Inactive since `since`, longer than the grace period: delete it.
    Delete { secret_arn: String, since: i64 },
}

/// When finishSecret made the secret's current key AWSCURRENT, as far as the sweep can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub at: i64,
    pub source: SwitchSource,
}

/// Where [`Switch::at`] comes from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchSource {
    /// The rotator's record on the user ([`crate::binding::SWITCHED_TAG`]).
    Recorded,
    /// The secret's `LastRotatedDate`.
    LastRotated,
    /// The current key's `CreateDate` (the switch cannot be earlier).
    KeyCreated,
}

impl SwitchSource {
    pub fn describe(self) -> &'static str {
        match self {
            SwitchSource::Recorded => "as the rotator recorded it",
            SwitchSource::LastRotated => "the secret's last rotation",
            SwitchSource::KeyCreated => "the current key's creation",
        }
    }
}

/// The switch to the secret's current key: the rotator's record (`recorded`, the time the
/// user's `KeyRotationSwitched` tag gives for that key) if it is plausible, else the secret's
/// `LastRotatedDate`, else the current key's `CreateDate` (`created`). A time before the current
/// key existed or after `now` is not that switch; nor is a record more than a day after the
/// secret's last rotation (the record is written inside the rotation, and a later one would
/// postpone the hard stop).
pub fn switch_of(
    recorded: Option<i64>,
    last_rotated: Option<i64>,
    created: i64,
    now: i64,
) -> Switch {
    let possible = |t: &i64| (created..=now).contains(t);
    let last_rotated = last_rotated.filter(possible);
    if let Some(at) = recorded
        .filter(possible)
        .filter(|t| last_rotated.is_none_or(|r| *t <= r + DAY))
    {
        return Switch {
            at,
            source: SwitchSource::Recorded,
        };
    }
    match last_rotated {
        Some(at) => Switch {
            at,
            source: SwitchSource::LastRotated,
        },
        None => Switch {
            at: created,
            source: SwitchSource::KeyCreated,
        },
    }
}

/// How the consumers of a replaced, still Active key stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumers {
    /// The current key was used after the switch.
    Moved,
    /// Neither the replaced key (inside its idle window) nor the current key was used after the
    /// switch: consumers that have not run since.
    Waiting,
    /// The replaced key was used after the switch, inside its idle window.
    InUse,
}

impl Consumers {
    pub fn describe(self) -> &'static str {
        match self {
            Consumers::Moved => "moved",
            Consumers::Waiting => "waiting for dormant consumers",
            Consumers::InUse => "still in use",
        }
    }
}

/// Why the sweep deactivates a replaced key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Idle, and its consumers have moved to the current key.
    Moved,
    /// Idle, and `OLD_KEY_MAX_WAIT_DAYS` have passed since the switch.
    MaxWait,
    /// `OLD_KEY_FORCE_DAYS` have passed since the switch, whatever its use.
    HardStop,
}

/// Where the retirement of an Active replaced key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiring {
    pub secret_arn: String,
    pub switch: Switch,
    pub consumers: Consumers,
    /// The start of its idle window: the later of the switch and its last use.
    pub idle_since: i64,
    /// Deactivate it now, and why; `None`: it stays Active for now.
    pub retire: Option<Retire>,
    /// The end of `OLD_KEY_MAX_WAIT_DAYS` after the switch: COMPLIANT before, NON_COMPLIANT
    /// from then on while Active.
    pub max_wait_until: i64,
    /// `OLD_KEY_FORCE_DAYS` after the switch.
    pub hard_stop: i64,
    /// Kept, and the hard stop is less than a day away: its owner is told.
    pub hard_stop_tomorrow: bool,
}

impl Retiring {
    /// Why it is deactivated now (`None` when it is kept).
    pub fn retire_reason(&self, policy: &SweepPolicy) -> Option<String> {
        let idle = format!(
            "unused since {} ({} or more)",
            rfc3339(self.idle_since),
            hours(policy.idle_secs)
        );
        Some(match self.retire? {
            Retire::Moved => format!("{idle}, and the current key in use since the switch"),
            Retire::MaxWait => format!(
                "{idle}, {} days after the switch with the current key still unused (OLD_KEY_MAX_WAIT_DAYS)",
                policy.max_wait_days
            ),
            Retire::HardStop => format!(
                "{} days after the switch, whatever its use (OLD_KEY_FORCE_DAYS)",
                policy.force_days
            ),
        })
    }

    /// What keeps it Active for now, and until when at the latest.
    pub fn kept_reason(&self, policy: &SweepPolicy) -> String {
        let idle = hours(policy.idle_secs);
        let until = match self.consumers {
            Consumers::Moved => format!("deactivated once unused for {idle}"),
            Consumers::Waiting if self.max_wait_until > policy.now => format!(
                "deactivated once unused for {idle} and the current key is used, or from {} (OLD_KEY_MAX_WAIT_DAYS)",
                rfc3339(self.max_wait_until)
            ),
            Consumers::Waiting => format!("deactivated once unused for {idle}"),
            Consumers::InUse => "find the consumer and move it to the current key".to_owned(),
        };
        format!(
            "{until}; deactivated whatever its use on {} (OLD_KEY_FORCE_DAYS)",
            rfc3339(self.hard_stop)
        )
    }
}

/// The verdict on an Active replaced key of the secret its user is bound to, whatever its age:
/// COMPLIANT while it retires (until `OLD_KEY_MAX_WAIT_DAYS` after the switch), NON_COMPLIANT
/// after that. Only [`sweep_decision`] makes a [`Retiring`], so a key no bound secret replaced
/// keeps its age verdict.
pub fn judge_replaced_key(key: &AccessKey, r: &Retiring, policy: &SweepPolicy) -> Judgement {
    let age = key.created.map_or_else(String::new, |c| {
        format!("age {} days; ", age_days(c, policy.now))
    });
    let replaced = format!(
        "{age}replaced on {} ({}) by a rotation of secret {}",
        rfc3339(r.switch.at),
        r.switch.source.describe(),
        r.secret_arn
    );
    let state = r.consumers.describe();
    if policy.now < r.max_wait_until {
        Judgement::new(Verdict::Compliant, format!("{replaced}, retiring: {state}"))
    } else {
        Judgement::new(
            Verdict::NonCompliant,
            format!(
                "{replaced}, still Active {} days after (OLD_KEY_MAX_WAIT_DAYS): {state}",
                policy.max_wait_days
            ),
        )
    }
}

/// What the secrets' tags say about a key the sweep may retire: hints, until the key's user
/// (GetUser) says which secret it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The secrets, tagged with the key's user, that name the key as the one their current key
    /// replaced.
    pub replacing: Vec<SecretKeyRefs>,
    /// Every secret whose tags name the key as AWSCURRENT or AWSPENDING (of any user): only the
    /// one the key's user is bound to holds it; the others are claims.
    pub claims: Vec<Claim>,
    /// Rotation secrets with no key-id tags: which keys they hold is unknown, so a key whose
    /// user is bound to one of them is kept.
    pub untracked: Vec<String>,
}

impl Candidate {
    /// The claims of secrets other than the one the key's user is bound to (`binding`: the
    /// user's `KeyRotationSecret` tag; unknown: every claim).
    pub fn foreign_claims<'a>(
        &'a self,
        binding: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Claim> + 'a {
        self.claims
            .iter()
            .filter(move |c| !is_bound(binding, &c.secret_arn))
    }

    /// The replacing secret the key's user is bound to, if any.
    pub fn bound_secret(&self, binding: Option<&str>) -> Option<&SecretKeyRefs> {
        self.replacing
            .iter()
            .find(|s| is_bound(binding, &s.secret_arn))
    }
}

/// The sweep's windows.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// `OLD_KEY_IDLE_HOURS`, in seconds.
    pub idle_secs: i64,
    pub grace_days: u32,
    /// `OLD_KEY_MAX_WAIT_DAYS`.
    pub max_wait_days: u32,
    /// `OLD_KEY_FORCE_DAYS`.
    pub force_days: u32,
    pub now: i64,
}

/// First look, from the listing and the secrets' tags alone: an Active or Inactive key that a
/// rotation secret of its own user names as replaced, with every secret of the account known.
/// Which secret, if any, holds the key is left to [`sweep_decision`], which knows the binding.
pub fn sweep_candidate(key: &AccessKey, index: &SecretIndex) -> Sweep {
    if key.status != "Inactive" && key.status != "Active" {
        return Sweep::NotReplaced;
    }
    let replacing: Vec<SecretKeyRefs> = index
        .previous_of(&key.id)
        .iter()
        .filter(|s| {
            s.user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&key.user))
        })
        .cloned()
        .collect();
    if replacing.is_empty() {
        return Sweep::NotReplaced;
    }
    if !index.complete {
        return Sweep::Keep("not every region's secrets could be listed".to_owned());
    }
    Sweep::Check(Candidate {
        replacing,
        claims: index.claims_on(&key.id),
        untracked: index.untracked().to_vec(),
    })
}

/// What IAM says about a sweep candidate's user, read just before any change.
#[derive(Debug, Clone, Copy)]
pub struct SweepFacts<'a> {
    pub user_arn: &'a str,
    /// The user's `KeyRotationSecret` tag.
    pub binding: Option<&'a str>,
    /// The user's `KeyRotationOwnKeys` tag: the keys the rotator created for its binding.
    pub own_keys: Option<&'a str>,
    /// The user's `KeyRotationSwitched` tag: the rotator's record of the last switch.
    pub switched: Option<&'a str>,
    /// The user's access keys (ListAccessKeys).
    pub keys: &'a [AccessKey],
    /// The candidate key's last use (GetAccessKeyLastUsed; `None`: never used).
    pub last_used: Option<i64>,
    /// The last use of the bound secret's current key (GetAccessKeyLastUsed, asked only for an
    /// Active candidate; `None`: never used).
    pub current_last_used: Option<i64>,
    /// When the sweep deactivated the candidate key, if it did (the user tag
    /// `KeyRotationDeactivated`, which only IAM administrators and the audit can write).
    pub deactivated_at: Option<i64>,
}

/// The final decision on a [`Sweep::Check`] candidate (`listed`: the key as the audit's listing
/// saw it). Nothing a secret writer controls decides it: the user must be bound to the replacing
/// secret, that secret must not hold the key, the rotator must have recorded the key as one it
/// created for that binding, the key's status must not have changed since the listing, and
/// every window counts from the switch ([`switch_of`]: the rotator's record on the user, the
/// secret's last rotation or the current key's creation), IAM's last uses, or the sweep's own
/// record of a deactivation. Claims of other secrets change nothing.
pub fn sweep_decision(
    listed: &AccessKey,
    candidate: &Candidate,
    facts: &SweepFacts<'_>,
    policy: &SweepPolicy,
) -> Sweep {
    let Some(secret) = candidate.bound_secret(facts.binding) else {
        if let Some(u) = candidate
            .untracked
            .iter()
            .find(|u| is_bound(facts.binding, u))
        {
            return Sweep::Keep(format!(
                "its user is bound to secret {u}, which has no key-id tags (the rotator has never finished a rotation for it), so which keys it holds is unknown"
            ));
        }
        return Sweep::Keep(format!(
            "the user is not bound to secret {} (IAM user tag {BINDING_TAG})",
            candidate.replacing[0].secret_arn,
        ));
    };
    // Its pending key id holds nothing: the rotator no longer writes it, so one is left over or
    // set by a writer of the secret to keep a replaced key from the sweep; and a real pending
    // key is newer than the current one, which keeps it below.
    if let Some(held) = candidate
        .claims
        .iter()
        .find(|c| c.secret_arn == secret.secret_arn && c.stage != crate::aws::secrets::AWSPENDING)
    {
        return Sweep::Keep(format!(
            "it is the {} key of secret {}, the secret its user is bound to",
            held.stage, secret.secret_arn
        ));
    }
    if !own_keys(facts.own_keys, &secret.secret_arn).contains(&listed.id) {
        return Sweep::Keep(format!(
            "not a key the rotator created for secret {} (the secret's tags name it, which proves nothing; IAM user tag {OWN_KEYS_TAG})",
            secret.secret_arn
        ));
    }
    let Some(key) = facts.keys.iter().find(|k| k.id == listed.id) else {
        return Sweep::Keep("the key no longer exists".to_owned());
    };
    if key.status != listed.status {
        return Sweep::Keep(format!(
            "its status changed during the audit (now {})",
            key.status
        ));
    }
    let current = secret.current_key.as_deref().unwrap_or_default();
    let Some(replacing_key) = facts.keys.iter().find(|k| k.id == current) else {
        return Sweep::Keep(format!(
            "the current key of secret {} is not a key of this user",
            secret.secret_arn
        ));
    };
    let Some(created) = replacing_key.created else {
        return Sweep::Keep(format!("IAM gives no CreateDate for {current}"));
    };
    // Which key is current is said by the secret's tags, which its writers can set: they may
    // name the candidate's own replacement as "previous". A key is retired only in favour of
    // an Active key the rotator created for this binding after it.
    if replacing_key.status != "Active"
        || !own_keys(facts.own_keys, &secret.secret_arn)
            .iter()
            .any(|k| k == current)
    {
        return Sweep::Keep(format!(
            "the key secret {} names as current ({current}) is not an Active key the rotator created for it",
            secret.secret_arn
        ));
    }
    if key.created.is_none_or(|c| c > created) {
        return Sweep::Keep(format!(
            "it is newer than {current}, the key secret {} names as current (a Rollback, or tags that disagree with IAM): left to the next rotation",
            secret.secret_arn
        ));
    }
    let now = policy.now;
    let switch = switch_of(
        switched_at(facts.switched, current),
        secret.last_rotated,
        created,
        now,
    );
    let since = switch.at.max(facts.last_used.unwrap_or(i64::MIN));
    let secret_arn = secret.secret_arn.clone();
    match key.status.as_str() {
        "Active" => Sweep::Retiring(retiring(secret_arn, switch, since, facts, policy)),
        "Inactive" => {
            let grace = i64::from(policy.grace_days) * DAY;
            // Without the sweep's record, the earliest it could have been deactivated.
            let inactive_since = facts
                .deactivated_at
                .unwrap_or(since.saturating_add(policy.idle_secs))
                .max(since);
            if now - inactive_since > grace {
                Sweep::Delete {
                    secret_arn,
                    since: inactive_since,
                }
            } else {
                Sweep::Keep(format!(
                    "replaced by secret {secret_arn}, inactive since {}, inside the {}-day grace period",
                    rfc3339(inactive_since),
                    policy.grace_days
                ))
            }
        }
        other => Sweep::Keep(format!("it is {other}")),
    }
}

/// Where the retirement of an Active replaced key stands, from the switch, the start of its idle
/// window (`idle_since`: the later of the switch and its last use) and both keys' last uses. A
/// use in the second of the switch counts as before it (IAM dates are whole seconds, and
/// testSecret's own call with the new key comes just before the switch).
fn retiring(
    secret_arn: String,
    switch: Switch,
    idle_since: i64,
    facts: &SweepFacts<'_>,
    policy: &SweepPolicy,
) -> Retiring {
    let now = policy.now;
    let after_switch = |used: Option<i64>| used.is_some_and(|u| u > switch.at);
    let idle = now - idle_since >= policy.idle_secs;
    let moved = after_switch(facts.current_last_used);
    let consumers = if after_switch(facts.last_used) && !idle {
        Consumers::InUse
    } else if moved {
        Consumers::Moved
    } else {
        Consumers::Waiting
    };
    let max_wait_until = switch
        .at
        .saturating_add(i64::from(policy.max_wait_days) * DAY);
    let hard_stop = switch.at.saturating_add(i64::from(policy.force_days) * DAY);
    let retire = if now >= hard_stop {
        Some(Retire::HardStop)
    } else if idle && moved {
        Some(Retire::Moved)
    } else if idle && now >= max_wait_until {
        Some(Retire::MaxWait)
    } else {
        None
    };
    Retiring {
        secret_arn,
        switch,
        consumers,
        idle_since,
        retire,
        max_wait_until,
        hard_stop,
        hard_stop_tomorrow: retire.is_none() && now >= hard_stop.saturating_sub(DAY),
    }
}

/// `36 hours`, `0.5 hours`.
pub fn hours(secs: i64) -> String {
    let h = secs as f64 / 3600.0;
    format!("{} hours", (h * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verdict::fixtures::*;
    use crate::binding::own_keys_value;

    const HOUR: i64 = 3600;

    /// 24 idle hours, 7 days of grace, 7 days of waiting for dormant consumers, the hard stop
    /// 30 days after the switch.
    const POLICY: SweepPolicy = SweepPolicy {
        idle_secs: 24 * HOUR,
        grace_days: 7,
        max_wait_days: 7,
        force_days: 30,
        now: NOW,
    };

    fn candidate_of(sweep: Sweep) -> Candidate {
        match sweep {
            Sweep::Check(c) => c,
            other => panic!("not a candidate: {other:?}"),
        }
    }

    #[test]
    fn sweep_candidates_come_from_the_tags_of_the_key_user_s_secrets() {
        let mut pending = secret("arn:sec/p", Some("pat"), Some("AKIAP2"), Some("AKIAP0"));
        pending.pending_key = Some("AKIAP1".into());
        let index = SecretIndex::new(
            [
                secret(
                    "arn:sec/alice",
                    Some("alice"),
                    Some("AKIANEW"),
                    Some("AKIAOLD"),
                ),
                // A second secret claims AKIADUAL as its current key, another replaced it.
                secret("arn:sec/dual-a", Some("erin"), Some("AKIADUAL"), None),
                secret(
                    "arn:sec/dual-b",
                    Some("erin"),
                    Some("AKIAX"),
                    Some("AKIADUAL"),
                ),
                // No user tag: it names no user's key (the writer of the secret chose nothing).
                secret("arn:sec/anon", None, Some("AKIAV2"), Some("AKIAV1")),
                pending,
                secret(
                    "arn:sec/pending-b",
                    Some("pat"),
                    Some("AKIAQ"),
                    Some("AKIAP1"),
                ),
            ],
            Vec::new(),
            true,
        );
        let k = |user: &str, id: &str, status: &str| AccessKey {
            user: user.into(),
            id: id.into(),
            status: status.into(),
            created: Some(NOW - 400 * DAY),
        };
        let c = candidate_of(sweep_candidate(&k("alice", "AKIAOLD", "Inactive"), &index));
        assert_eq!(c.replacing.len(), 1);
        assert_eq!(c.replacing[0].secret_arn, "arn:sec/alice");
        assert!(c.claims.is_empty() && c.untracked.is_empty(), "{c:?}");
        // IAM user names are case-insensitive.
        assert!(matches!(
            sweep_candidate(&k("Alice", "AKIAOLD", "Inactive"), &index),
            Sweep::Check(_)
        ));
        // An Active replaced key is looked at too (idle deactivation); an Expired one is not.
        assert!(matches!(
            sweep_candidate(&k("alice", "AKIAOLD", "Active"), &index),
            Sweep::Check(_)
        ));
        assert_eq!(
            sweep_candidate(&k("alice", "AKIAOLD", "Expired"), &index),
            Sweep::NotReplaced
        );
        // A secret's own current key, named as replaced by no one, is not the sweep's business.
        assert_eq!(
            sweep_candidate(&k("alice", "AKIANEW", "Inactive"), &index),
            Sweep::NotReplaced
        );
        // Secrets naming the key as AWSCURRENT or AWSPENDING are claims, weighed once the
        // user's binding is known: they do not decide here.
        let c = candidate_of(sweep_candidate(&k("erin", "AKIADUAL", "Inactive"), &index));
        assert_eq!(c.replacing[0].secret_arn, "arn:sec/dual-b");
        assert_eq!(
            c.claims,
            [Claim {
                secret_arn: "arn:sec/dual-a".into(),
                stage: "AWSCURRENT"
            }]
        );
        let c = candidate_of(sweep_candidate(&k("pat", "AKIAP1", "Inactive"), &index));
        assert_eq!(
            c.claims,
            [Claim {
                secret_arn: "arn:sec/p".into(),
                stage: "AWSPENDING"
            }]
        );
        // Another user's secret, or a secret that names no user: not this key's.
        assert_eq!(
            sweep_candidate(&k("mallory", "AKIAOLD", "Inactive"), &index),
            Sweep::NotReplaced
        );
        assert_eq!(
            sweep_candidate(&k("victim", "AKIAV1", "Inactive"), &index),
            Sweep::NotReplaced
        );
        assert_eq!(
            sweep_candidate(&k("alice", "AKIAZZZ", "Inactive"), &index),
            Sweep::NotReplaced
        );
        let alice = || {
            secret(
                "arn:sec/alice",
                Some("alice"),
                Some("AKIANEW"),
                Some("AKIAOLD"),
            )
        };
        // An incomplete view of the secrets: nothing goes.
        let partial = SecretIndex::new([alice()], Vec::new(), false);
        assert!(matches!(
            sweep_candidate(&k("alice", "AKIAOLD", "Inactive"), &partial),
            Sweep::Keep(r) if r.contains("could be listed")
        ));
        // A secret whose keys are unknown keeps only the keys of users bound to it, which the
        // decision knows: here it is carried along, not a reason to keep every key.
        let untracked = SecretIndex::new([alice()], vec!["arn:sec/legacy".into()], true);
        let c = candidate_of(sweep_candidate(
            &k("alice", "AKIAOLD", "Inactive"),
            &untracked,
        ));
        assert_eq!(c.untracked, ["arn:sec/legacy"]);
    }

    #[test]
    fn sweep_decision_table() {
        const USER_ARN: &str = "arn:aws:iam::123456789012:user/alice";
        const SECRET_ARN: &str =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/alice-AbCdEf";
        const OTHER: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ";
        const LEGACY: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:legacy-QwErTy";
        let candidate = Candidate {
            replacing: vec![SecretKeyRefs {
                secret_arn: SECRET_ARN.into(),
                secret_name: "ci/alice".into(),
                user: Some("alice".into()),
                user_account: None,
                current_key: Some("AKIANEW".into()),
                previous_key: Some("AKIAOLD".into()),
                pending_key: None,
                last_rotated: None,
            }],
            claims: Vec::new(),
            untracked: Vec::new(),
        };
        let key = |id: &str, status: &str, days_ago: i64| AccessKey {
            user: "alice".into(),
            id: id.into(),
            status: status.into(),
            created: Some(NOW - days_ago * DAY),
        };
        let policy = POLICY;
        let own = own_keys_value(SECRET_ARN, &["AKIAOLD".to_owned(), "AKIANEW".to_owned()]);
        #[derive(Clone, Copy)]
        struct Case<'a> {
            binding: Option<&'a str>,
            own_keys: Option<&'a str>,
            listed: &'a str,
            now: &'a str,
            new_days_ago: i64,
            last_used: Option<i64>,
            current_last_used: Option<i64>,
            deactivated_at: Option<i64>,
        }
        let base = Case {
            binding: Some(SECRET_ARN),
            own_keys: Some(&own),
            listed: "Inactive",
            now: "Inactive",
            new_days_ago: 10,
            last_used: None,
            current_last_used: None,
            deactivated_at: None,
        };
        let decide_with = |c: Case, candidate: &Candidate, policy: &SweepPolicy| {
            let keys = [
                key("AKIAOLD", c.now, 400),
                key("AKIANEW", "Active", c.new_days_ago),
            ];
            sweep_decision(
                &key("AKIAOLD", c.listed, 400),
                candidate,
                &SweepFacts {
                    user_arn: USER_ARN,
                    binding: c.binding,
                    own_keys: c.own_keys,
                    switched: None,
                    keys: &keys,
                    last_used: c.last_used,
                    current_last_used: c.current_last_used,
                    deactivated_at: c.deactivated_at,
                },
                policy,
            )
        };
        let decide = |c: Case, policy: &SweepPolicy| decide_with(c, &candidate, policy);
        // Inactive, bound by ARN, recorded as the rotator's, replaced 10 days ago, unused since:
        // without the sweep's record it counts as inactive from the end of its idle window.
        let deleted = Sweep::Delete {
            secret_arn: SECRET_ARN.into(),
            since: NOW - 10 * DAY + 24 * HOUR,
        };
        assert_eq!(decide(base, &policy), deleted);
        // The sweep's record of the deactivation wins: deactivated 3 days ago, kept.
        assert!(matches!(
            decide(Case { deactivated_at: Some(NOW - 3 * DAY), ..base }, &policy),
            Sweep::Keep(r) if r.contains("inactive since 2027-01-12T08:00:00Z")
                && r.contains("inside the 7-day grace period")
        ));
        // Unbound, bound by name (never enough), or bound to another secret: kept, whatever
        // the tags say.
        for binding in [None, Some(""), Some("ci/alice"), Some(OTHER)] {
            assert!(
                matches!(
                    decide(Case { binding, ..base }, &policy),
                    Sweep::Keep(r) if r.contains("not bound") && r.contains("KeyRotationSecret")
                ),
                "{binding:?}"
            );
        }

        // Only the keys the rotator created for the binding are ever retired: no record, a
        // record made for another secret, a malformed one, or one without this key: kept.
        let for_other = own_keys_value(OTHER, &["AKIAOLD".to_owned()]);
        let without = own_keys_value(SECRET_ARN, &["AKIANEW".to_owned()]);
        for own_keys in [
            None,
            Some(for_other.as_str()),
            Some("AKIAOLD"),
            Some(without.as_str()),
        ] {
            for (listed, new_days_ago) in [("Inactive", 10), ("Active", 2)] {
                let c = Case {
                    own_keys,
                    listed,
                    now: listed,
                    new_days_ago,
                    ..base
                };
                assert_eq!(
                    decide(c, &policy),
                    Sweep::Keep(format!(
                        "not a key the rotator created for secret {SECRET_ARN} (the secret's tags name it, which proves nothing; IAM user tag KeyRotationOwnKeys)"
                    )),
                    "{own_keys:?} {listed}"
                );
            }
        }

        // Claims of other secrets (a forged key-id tag on any secret) never keep a key; the
        // bound secret's own AWSCURRENT does, never its AWSPENDING.
        let claimed = |secret_arn: &str, stage: &'static str| Candidate {
            claims: vec![Claim {
                secret_arn: secret_arn.into(),
                stage,
            }],
            ..candidate.clone()
        };
        // Reproduced attack: a writer of the bound secret tags its replaced key as pending (and
        // may stage AWSPENDING on an old version) to keep it from the hard stop for good.
        assert_eq!(
            decide_with(base, &claimed(SECRET_ARN, "AWSPENDING"), &policy),
            deleted
        );
        for stage in ["AWSCURRENT", "AWSPENDING"] {
            let forged = claimed(OTHER, stage);
            assert_eq!(decide_with(base, &forged, &policy), deleted, "{stage}");
            assert_eq!(
                forged.foreign_claims(Some(SECRET_ARN)).collect::<Vec<_>>(),
                [&forged.claims[0]]
            );
            let held = claimed(SECRET_ARN, stage);
            if stage == "AWSCURRENT" {
                assert_eq!(
                    decide_with(base, &held, &policy),
                    Sweep::Keep(format!(
                        "it is the {stage} key of secret {SECRET_ARN}, the secret its user is bound to"
                    ))
                );
            }
            assert_eq!(held.foreign_claims(Some(SECRET_ARN)).count(), 0);
            // The binding unknown: every claim is reported.
            assert_eq!(held.foreign_claims(None).count(), 1);
        }

        // An untracked rotation secret keeps the keys of the users bound to it, and only those.
        let with_untracked = Candidate {
            untracked: vec![LEGACY.into()],
            ..candidate.clone()
        };
        assert_eq!(decide_with(base, &with_untracked, &policy), deleted);
        assert!(matches!(
            decide_with(Case { binding: Some(LEGACY), ..base }, &with_untracked, &policy),
            Sweep::Keep(r) if r.contains(&format!("bound to secret {LEGACY}, which has no key-id tags"))
        ));

        // Reactivated (or deactivated) since the listing: left as the person left it.
        assert!(matches!(
            decide(Case { now: "Active", ..base }, &policy),
            Sweep::Keep(r) if r == "its status changed during the audit (now Active)"
        ));
        // Used three days ago, after the replacement: the windows run from that use.
        assert!(matches!(
            decide(Case { last_used: Some(NOW - 3 * DAY), ..base }, &policy),
            Sweep::Keep(r) if r.contains("inside the 7-day grace period")
        ));
        // Active: where its retirement stands, from the switch (here, without the rotator's
        // record or a last rotation, the current key's creation 2 days ago) and both keys'
        // last uses (the retirement table below has the rest).
        let active = Case {
            listed: "Active",
            now: "Active",
            new_days_ago: 2,
            ..base
        };
        let retiring = |c: Case| match decide(c, &policy) {
            Sweep::Retiring(r) => r,
            other => panic!("not retiring: {other:?}"),
        };
        let r = retiring(active);
        assert_eq!(
            (r.secret_arn.as_str(), r.switch, r.consumers, r.retire),
            (
                SECRET_ARN,
                Switch {
                    at: NOW - 2 * DAY,
                    source: SwitchSource::KeyCreated
                },
                Consumers::Waiting,
                None
            ),
            "idle, but its consumers have not moved: it waits for them"
        );
        let moved = Case {
            current_last_used: Some(NOW - DAY),
            ..active
        };
        assert_eq!(retiring(moved).retire, Some(Retire::Moved));
        assert_eq!(
            retiring(Case {
                last_used: Some(NOW - HOUR),
                ..moved
            })
            .consumers,
            Consumers::InUse
        );
        // The secret's current key is not the user's: when it was replaced is unknown.
        for status in ["Active", "Inactive"] {
            let keys = [key("AKIAOLD", status, 400)];
            assert!(
                matches!(
                    sweep_decision(
                        &key("AKIAOLD", status, 400),
                        &candidate,
                        &SweepFacts {
                            user_arn: USER_ARN,
                            binding: Some(SECRET_ARN),
                            own_keys: Some(&own),
                            switched: None,
                            keys: &keys,
                            last_used: None,
                            current_last_used: None,
                            deactivated_at: None,
                        },
                        &policy,
                    ),
                    Sweep::Keep(r) if r.contains("not a key of this user")
                ),
                "{status}"
            );
        }
        assert_eq!(hours(5400), "1.5 hours");
    }

    /// alice's AKIAOLD, Active, replaced by AKIANEW (made 40 days before NOW) by a rotation of
    /// `SECRET`, both keys the rotator's; the user's switch record, the secret's last rotation
    /// and both keys' last uses as given.
    struct Replaced<'a> {
        switched: Option<&'a str>,
        last_rotated: Option<i64>,
        last_used: Option<i64>,
        current_last_used: Option<i64>,
    }

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/alice-AbCdEf";
    const NEW_CREATED: i64 = NOW - 40 * DAY;

    fn decide_replaced(r: &Replaced, policy: &SweepPolicy) -> Sweep {
        let key = |id: &str, created: i64| AccessKey {
            user: "alice".into(),
            id: id.into(),
            status: "Active".into(),
            created: Some(created),
        };
        let keys = [key("AKIAOLD", NOW - 400 * DAY), key("AKIANEW", NEW_CREATED)];
        let candidate = Candidate {
            replacing: vec![SecretKeyRefs {
                last_rotated: r.last_rotated,
                ..secret(SECRET, Some("alice"), Some("AKIANEW"), Some("AKIAOLD"))
            }],
            claims: Vec::new(),
            untracked: Vec::new(),
        };
        let own =
            crate::binding::own_keys_value(SECRET, &["AKIAOLD".to_owned(), "AKIANEW".to_owned()]);
        sweep_decision(
            &keys[0],
            &candidate,
            &SweepFacts {
                user_arn: "arn:aws:iam::123456789012:user/alice",
                binding: Some(SECRET),
                own_keys: Some(&own),
                switched: r.switched,
                keys: &keys,
                last_used: r.last_used,
                current_last_used: r.current_last_used,
                deactivated_at: None,
            },
            policy,
        )
    }

    /// The secret's writer swaps its key-id tags: the live key is named "previous", the key it
    /// replaced "current". Neither an Inactive nor an older "current" key makes the live one
    /// retire, used or not, however late.
    #[test]
    fn swapped_key_id_tags_never_retire_the_live_key() {
        let key = |id: &str, status: &str, created: i64| AccessKey {
            user: "alice".into(),
            id: id.into(),
            status: status.into(),
            created: Some(created),
        };
        let own =
            crate::binding::own_keys_value(SECRET, &["AKIAOLD".to_owned(), "AKIANEW".to_owned()]);
        let candidate = Candidate {
            replacing: vec![secret(
                SECRET,
                Some("alice"),
                Some("AKIAOLD"),
                Some("AKIANEW"),
            )],
            claims: Vec::new(),
            untracked: Vec::new(),
        };
        for old_status in ["Inactive", "Active"] {
            let keys = [
                key("AKIAOLD", old_status, NOW - 400 * DAY),
                key("AKIANEW", "Active", NOW - 40 * DAY),
            ];
            for (last_used, now) in [(None, NOW), (Some(NOW - HOUR), NOW + 60 * DAY)] {
                let decision = sweep_decision(
                    &keys[1],
                    &candidate,
                    &SweepFacts {
                        user_arn: "arn:aws:iam::123456789012:user/alice",
                        binding: Some(SECRET),
                        own_keys: Some(&own),
                        switched: None,
                        keys: &keys,
                        last_used,
                        current_last_used: None,
                        deactivated_at: None,
                    },
                    &SweepPolicy { now, ..POLICY },
                );
                assert!(
                    matches!(&decision, Sweep::Keep(_)),
                    "{old_status} {last_used:?}: {decision:?}"
                );
            }
        }
        // A "current" key the rotator did not make counts for nothing either.
        let keys = [
            key("AKIAOLD", "Active", NOW - 400 * DAY),
            key("AKIAHUMAN", "Active", NOW - 40 * DAY),
        ];
        let own = crate::binding::own_keys_value(SECRET, &["AKIAOLD".to_owned()]);
        let candidate = Candidate {
            replacing: vec![secret(
                SECRET,
                Some("alice"),
                Some("AKIAHUMAN"),
                Some("AKIAOLD"),
            )],
            claims: Vec::new(),
            untracked: Vec::new(),
        };
        let decision = sweep_decision(
            &keys[0],
            &candidate,
            &SweepFacts {
                user_arn: "arn:aws:iam::123456789012:user/alice",
                binding: Some(SECRET),
                own_keys: Some(&own),
                switched: None,
                keys: &keys,
                last_used: None,
                current_last_used: None,
                deactivated_at: None,
            },
            &POLICY,
        );
        assert!(
            matches!(&decision, Sweep::Keep(r) if r.contains("not an Active key the rotator created")),
            "{decision:?}"
        );
    }

    fn retiring_of(r: &Replaced, policy: &SweepPolicy) -> Retiring {
        match decide_replaced(r, policy) {
            Sweep::Retiring(r) => r,
            other => panic!("not retiring: {other:?}"),
        }
    }

    /// An Active replaced key, with the switch recorded at `S`: deactivated when idle and moved,
    /// or idle once OLD_KEY_MAX_WAIT_DAYS have passed (waiting for dormant consumers until then),
    /// and whatever its use at OLD_KEY_FORCE_DAYS, announced a day before; its verdict COMPLIANT
    /// until the wait is over.
    #[test]
    fn retirement_table() {
        use Consumers::*;
        use Retire::{HardStop, MaxWait};
        const S: i64 = NOW - 20 * DAY;
        let record = crate::binding::key_time_value("AKIANEW", S);
        /// Name, now (after S), replaced key's last use, current key's last use, then what
        /// follows: consumers, deactivation, notice of the hard stop, verdict.
        type Row = (
            &'static str,
            i64,
            Option<i64>,
            Option<i64>,
            Consumers,
            Option<Retire>,
            bool,
            Verdict,
        );
        let c = Verdict::Compliant;
        let nc = Verdict::NonCompliant;
        let rows: Vec<Row> = vec![
            (
                "moved and idle",
                2 * DAY,
                Some(S - HOUR),
                Some(S + HOUR),
                Moved,
                Some(Retire::Moved),
                false,
                c,
            ),
            (
                "moved, unused since the switch, idle window running",
                12 * HOUR,
                None,
                Some(S + HOUR),
                Moved,
                None,
                false,
                c,
            ),
            (
                "moved, idle window over to the second",
                DAY,
                None,
                Some(S + 1),
                Moved,
                Some(Retire::Moved),
                false,
                c,
            ),
            (
                "idle, waiting before the max wait",
                3 * DAY,
                Some(S - HOUR),
                None,
                Waiting,
                None,
                false,
                c,
            ),
            (
                "idle, a second before the max wait",
                7 * DAY - 1,
                None,
                None,
                Waiting,
                None,
                false,
                c,
            ),
            (
                "idle after the max wait",
                7 * DAY,
                None,
                None,
                Waiting,
                Some(MaxWait),
                false,
                nc,
            ),
            // testSecret signs with the new key just before the switch, in its second at most.
            (
                "testSecret's call is no move",
                3 * DAY,
                None,
                Some(S),
                Waiting,
                None,
                false,
                c,
            ),
            (
                "a use before the switch is no move",
                3 * DAY,
                None,
                Some(S - 60),
                Waiting,
                None,
                false,
                c,
            ),
            (
                "in use soon after the switch",
                2 * DAY,
                Some(S + 2 * DAY - HOUR),
                None,
                InUse,
                None,
                false,
                c,
            ),
            (
                "in use, some consumers moved",
                2 * DAY,
                Some(S + 2 * DAY - HOUR),
                Some(S + DAY),
                InUse,
                None,
                false,
                c,
            ),
            (
                "in use before the force",
                20 * DAY,
                Some(S + 20 * DAY - HOUR),
                Some(S + DAY),
                InUse,
                None,
                false,
                nc,
            ),
            (
                "in use a second before the notice",
                29 * DAY - 1,
                Some(S + 29 * DAY - HOUR),
                None,
                InUse,
                None,
                false,
                nc,
            ),
            (
                "in use, notice the day before the force",
                29 * DAY,
                Some(S + 29 * DAY - HOUR),
                None,
                InUse,
                None,
                true,
                nc,
            ),
            (
                "in use, a second before the force",
                30 * DAY - 1,
                Some(S + 30 * DAY - HOUR),
                None,
                InUse,
                None,
                true,
                nc,
            ),
            (
                "in use at the force",
                30 * DAY,
                Some(S + 30 * DAY - HOUR),
                Some(S + DAY),
                InUse,
                Some(HardStop),
                false,
                nc,
            ),
            (
                "in use after the force",
                45 * DAY,
                Some(S + 45 * DAY - 60),
                None,
                InUse,
                Some(HardStop),
                false,
                nc,
            ),
            // Used after the switch, then idle: moved consumers retire it, dormant ones wait.
            (
                "used after the switch, now idle and moved",
                5 * DAY,
                Some(S + 2 * DAY),
                Some(S + 3 * DAY),
                Moved,
                Some(Retire::Moved),
                false,
                c,
            ),
            (
                "used after the switch, now idle, not moved",
                5 * DAY,
                Some(S + 2 * DAY),
                None,
                Waiting,
                None,
                false,
                c,
            ),
        ];
        for (name, after, last_used, current_last_used, consumers, retire, notice, verdict) in rows
        {
            let policy = SweepPolicy {
                now: S + after,
                ..POLICY
            };
            let replaced = Replaced {
                switched: Some(&record),
                last_rotated: None,
                last_used,
                current_last_used,
            };
            let r = retiring_of(&replaced, &policy);
            assert_eq!(
                r.switch,
                Switch {
                    at: S,
                    source: SwitchSource::Recorded
                },
                "{name}"
            );
            assert_eq!(
                (r.consumers, r.retire, r.hard_stop_tomorrow),
                (consumers, retire, notice),
                "{name}: {r:?}"
            );
            assert_eq!((r.max_wait_until, r.hard_stop), (S + 7 * DAY, S + 30 * DAY));
            assert_eq!(
                r.retire_reason(&policy).is_some(),
                retire.is_some(),
                "{name}"
            );
            let old = AccessKey {
                user: "alice".into(),
                id: "AKIAOLD".into(),
                status: "Active".into(),
                created: Some(NOW - 400 * DAY),
            };
            let j = judge_replaced_key(&old, &r, &policy);
            assert_eq!(j.verdict, verdict, "{name}: {j:?}");
            assert!(
                j.reason.contains(&format!(
                    "replaced on {} (as the rotator recorded it) by a rotation of secret {SECRET}",
                    rfc3339(S)
                )) && j.reason.contains(consumers.describe()),
                "{name}: {}",
                j.reason
            );
            if verdict == Verdict::Compliant {
                assert!(j.reason.contains(", retiring: "), "{name}: {}", j.reason);
            } else {
                assert!(
                    j.reason
                        .contains("still Active 7 days after (OLD_KEY_MAX_WAIT_DAYS)"),
                    "{name}: {}",
                    j.reason
                );
            }
        }
    }

    /// The verdict is the retirement's, not the age's: a 400-day-old key replaced a day ago is
    /// COMPLIANT, with the reasons a reader needs.
    #[test]
    fn a_replaced_key_is_judged_by_its_retirement_not_its_age() {
        let record = crate::binding::key_time_value("AKIANEW", NOW - DAY);
        let policy = POLICY;
        let r = retiring_of(
            &Replaced {
                switched: Some(&record),
                last_rotated: None,
                last_used: None,
                current_last_used: None,
            },
            &policy,
        );
        let old = access_key("AKIAOLD", "Active", Some(400));
        assert_eq!(
            judge_replaced_key(&old, &r, &policy),
            Judgement::new(
                Verdict::Compliant,
                format!(
                    "age 400 days; replaced on 2027-01-14T08:00:00Z (as the rotator recorded it) by a rotation of secret {SECRET}, retiring: waiting for dormant consumers"
                )
            )
        );
        assert_eq!(
            r.kept_reason(&policy),
            "deactivated once unused for 24 hours and the current key is used, or from 2027-01-21T08:00:00Z (OLD_KEY_MAX_WAIT_DAYS); deactivated whatever its use on 2027-02-13T08:00:00Z (OLD_KEY_FORCE_DAYS)"
        );
    }

    /// The switch: the rotator's record of the current key, else the secret's last rotation,
    /// else the current key's creation. A record of another key, one from before the key
    /// existed or from the future, or one more than a day after the secret's last rotation
    /// (a tag written to postpone the hard stop) is not the switch.
    #[test]
    fn missing_switch_tag_falls_back() {
        let created = NOW - 10 * DAY;
        let recorded = Switch {
            at: NOW - 9 * DAY,
            source: SwitchSource::Recorded,
        };
        let rotated = Switch {
            at: NOW - 9 * DAY + 60,
            source: SwitchSource::LastRotated,
        };
        let by_creation = Switch {
            at: created,
            source: SwitchSource::KeyCreated,
        };
        let rows = [
            ("recorded", Some(NOW - 9 * DAY), None, recorded),
            (
                "recorded, last rotation after",
                Some(NOW - 9 * DAY),
                Some(rotated.at),
                recorded,
            ),
            ("no record", None, Some(rotated.at), rotated),
            ("nothing", None, None, by_creation),
            (
                "record before the key existed",
                Some(created - 1),
                Some(rotated.at),
                rotated,
            ),
            ("record in the future", Some(NOW + 1), None, by_creation),
            (
                "record a day after the last rotation",
                Some(rotated.at + DAY),
                Some(rotated.at),
                recorded_at(rotated.at + DAY),
            ),
            (
                "record more than a day after the last rotation",
                Some(rotated.at + DAY + 1),
                Some(rotated.at),
                rotated,
            ),
            (
                "last rotation before the key existed",
                None,
                Some(created - DAY),
                by_creation,
            ),
            (
                "last rotation before the key, record kept",
                Some(NOW - 9 * DAY),
                Some(created - DAY),
                recorded,
            ),
            (
                "last rotation in the future",
                None,
                Some(NOW + DAY),
                by_creation,
            ),
        ];
        fn recorded_at(at: i64) -> Switch {
            Switch {
                at,
                source: SwitchSource::Recorded,
            }
        }
        for (name, record, last_rotated, want) in rows {
            assert_eq!(
                switch_of(record, last_rotated, created, NOW),
                want,
                "{name}"
            );
        }

        // Through the decision: the user's tag names the current key, or it does not count.
        let policy = POLICY;
        let switched = |tag: Option<&str>, last_rotated: Option<i64>| {
            retiring_of(
                &Replaced {
                    switched: tag,
                    last_rotated,
                    last_used: None,
                    current_last_used: None,
                },
                &policy,
            )
        };
        let record = crate::binding::key_time_value("AKIANEW", NOW - 2 * DAY);
        let other = crate::binding::key_time_value("AKIAOTHER", NOW - 2 * DAY);
        let r = switched(Some(&record), None);
        assert_eq!((r.switch.source, r.retire), (SwitchSource::Recorded, None));
        // A record of another key (the rotation before, a rolled-back one) or none: the
        // secret's last rotation, then the key's creation 40 days ago, and the windows with it.
        for tag in [Some(other.as_str()), Some("AKIANEW:soon"), None] {
            let r = switched(tag, Some(NOW - 3 * DAY));
            assert_eq!(
                (r.switch.source, r.switch.at, r.retire),
                (SwitchSource::LastRotated, NOW - 3 * DAY, None),
                "{tag:?}"
            );
            let r = switched(tag, None);
            assert_eq!(
                (r.switch.source, r.switch.at, r.retire),
                (
                    SwitchSource::KeyCreated,
                    NEW_CREATED,
                    Some(Retire::HardStop)
                ),
                "{tag:?}"
            );
        }
    }
}
