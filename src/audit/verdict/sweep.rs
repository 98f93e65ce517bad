//! The sweep's decision on a replaced key: keep it, deactivate it once idle, delete it after
//! the grace period, or report it still in use.
//!
//! Secrets' tags select the candidates; they never decide. A key is retired only when its user
//! is bound (IAM user tag, full ARN) to the secret that names it as replaced, that secret does
//! not name it as AWSCURRENT or AWSPENDING, and the rotator recorded it on the user as a key it
//! created for that binding ([`crate::binding::OWN_KEYS_TAG`]). Any other secret's tags are
//! claims: reported, never a reason to keep or retire a key.

use super::iam::{Claim, SecretIndex};
use super::DAY;
use crate::aws::iam::AccessKey;
use crate::aws::secrets::SecretKeyRefs;
use crate::binding::{is_bound, own_keys, BINDING_TAG, OWN_KEYS_TAG};
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
    /// Active, unused for `OLD_KEY_IDLE_HOURS` since `idle_since` (the later of its replacement
    /// and its last use): deactivate it.
    Deactivate { secret_arn: String, idle_since: i64 },
    /// Active and used since it was replaced at `replaced_at`: kept, reported; `overdue` once it
    /// has outlived its idle window by more than `OLD_KEY_GRACE_DAYS`.
    InUse {
        secret_arn: String,
        replaced_at: i64,
        overdue: bool,
    },
    /// Inactive since `since`, longer than the grace period: delete it.
    Delete { secret_arn: String, since: i64 },
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
}

/// The sweep's windows.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// `OLD_KEY_IDLE_HOURS`, in seconds.
    pub idle_secs: i64,
    pub grace_days: u32,
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
    /// The user's access keys (ListAccessKeys).
    pub keys: &'a [AccessKey],
    /// The candidate key's last use (GetAccessKeyLastUsed; `None`: never used).
    pub last_used: Option<i64>,
    /// When the sweep deactivated the candidate key, if it did (the user tag
    /// `KeyRotationDeactivated`, which only IAM administrators and the audit can write).
    pub deactivated_at: Option<i64>,
}

/// The final decision on a [`Sweep::Check`] candidate (`listed`: the key as the audit's listing
/// saw it). Nothing a secret writer controls decides it: the user must be bound to the replacing
/// secret, that secret must not hold the key, the rotator must have recorded the key as one it
/// created for that binding, the key's status must not have changed since the listing, and
/// every window counts from IAM's dates (the replacing key's creation, the key's last use) or
/// the sweep's own record of a deactivation. Claims of other secrets change nothing.
pub fn sweep_decision(
    listed: &AccessKey,
    candidate: &Candidate,
    facts: &SweepFacts<'_>,
    policy: &SweepPolicy,
) -> Sweep {
    let Some(secret) = candidate
        .replacing
        .iter()
        .find(|s| is_bound(facts.binding, &s.secret_arn))
    else {
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
    if let Some(held) = candidate
        .claims
        .iter()
        .find(|c| c.secret_arn == secret.secret_arn)
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
    let Some(replaced_at) = replacing_key.created else {
        return Sweep::Keep(format!("IAM gives no CreateDate for {current}"));
    };
    let (now, idle) = (policy.now, policy.idle_secs);
    let grace = i64::from(policy.grace_days) * DAY;
    let since = replaced_at.max(facts.last_used.unwrap_or(i64::MIN));
    let secret_arn = secret.secret_arn.clone();
    match key.status.as_str() {
        "Active" if now - since >= idle => Sweep::Deactivate {
            secret_arn,
            idle_since: since,
        },
        "Active" if since > replaced_at => Sweep::InUse {
            secret_arn,
            replaced_at,
            overdue: now - replaced_at > idle + grace,
        },
        "Active" => Sweep::Keep(format!(
            "replaced by secret {secret_arn} on {}; deactivated once unused for {}",
            rfc3339(replaced_at),
            hours(idle)
        )),
        "Inactive" => {
            // Without the sweep's record, the earliest it could have been deactivated.
            let inactive_since = facts
                .deactivated_at
                .unwrap_or(since.saturating_add(idle))
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
        const HOUR: i64 = 3600;
        let candidate = Candidate {
            replacing: vec![SecretKeyRefs {
                secret_arn: SECRET_ARN.into(),
                secret_name: "ci/alice".into(),
                user: Some("alice".into()),
                current_key: Some("AKIANEW".into()),
                previous_key: Some("AKIAOLD".into()),
                pending_key: None,
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
        let policy = SweepPolicy {
            idle_secs: 24 * HOUR,
            grace_days: 7,
            now: NOW,
        };
        let own = own_keys_value(SECRET_ARN, &["AKIAOLD".to_owned(), "AKIANEW".to_owned()]);
        #[derive(Clone, Copy)]
        struct Case<'a> {
            binding: Option<&'a str>,
            own_keys: Option<&'a str>,
            listed: &'a str,
            now: &'a str,
            new_days_ago: i64,
            last_used: Option<i64>,
            deactivated_at: Option<i64>,
        }
        let base = Case {
            binding: Some(SECRET_ARN),
            own_keys: Some(&own),
            listed: "Inactive",
            now: "Inactive",
            new_days_ago: 10,
            last_used: None,
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
                    keys: &keys,
                    last_used: c.last_used,
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
        // bound secret's own AWSCURRENT or AWSPENDING does.
        let claimed = |secret_arn: &str, stage: &'static str| Candidate {
            claims: vec![Claim {
                secret_arn: secret_arn.into(),
                stage,
            }],
            ..candidate.clone()
        };
        for stage in ["AWSCURRENT", "AWSPENDING"] {
            let forged = claimed(OTHER, stage);
            assert_eq!(decide_with(base, &forged, &policy), deleted, "{stage}");
            assert_eq!(
                forged.foreign_claims(Some(SECRET_ARN)).collect::<Vec<_>>(),
                [&forged.claims[0]]
            );
            let held = claimed(SECRET_ARN, stage);
            assert_eq!(
                decide_with(base, &held, &policy),
                Sweep::Keep(format!(
                    "it is the {stage} key of secret {SECRET_ARN}, the secret its user is bound to"
                ))
            );
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
        // Active, unused since its replacement 2 days ago: deactivated.
        let active = Case {
            listed: "Active",
            now: "Active",
            new_days_ago: 2,
            ..base
        };
        assert_eq!(
            decide(active, &policy),
            Sweep::Deactivate {
                secret_arn: SECRET_ARN.into(),
                idle_since: NOW - 2 * DAY
            }
        );
        // Active, replaced 2 hours ago and unused: waits for its idle window.
        let later = SweepPolicy {
            now: NOW + 2 * HOUR,
            ..policy
        };
        assert!(matches!(
            decide(Case { new_days_ago: 0, ..active }, &later),
            Sweep::Keep(r) if r.contains("deactivated once unused for 24 hours")
        ));
        // Active and used an hour ago, after its replacement: in use, not yet overdue...
        assert_eq!(
            decide(
                Case {
                    last_used: Some(NOW - HOUR),
                    ..active
                },
                &policy
            ),
            Sweep::InUse {
                secret_arn: SECRET_ARN.into(),
                replaced_at: NOW - 2 * DAY,
                overdue: false
            }
        );
        // ...and overdue once it has outlived its idle window by more than the grace period.
        assert_eq!(
            decide(
                Case {
                    new_days_ago: 9,
                    last_used: Some(NOW - HOUR),
                    ..active
                },
                &policy
            ),
            Sweep::InUse {
                secret_arn: SECRET_ARN.into(),
                replaced_at: NOW - 9 * DAY,
                overdue: true
            }
        );
        // The secret's current key is not the user's: when it was replaced is unknown.
        let keys = [key("AKIAOLD", "Inactive", 400)];
        assert!(matches!(
            sweep_decision(
                &key("AKIAOLD", "Inactive", 400),
                &candidate,
                &SweepFacts {
                    user_arn: USER_ARN,
                    binding: Some(SECRET_ARN),
                    own_keys: Some(&own),
                    keys: &keys,
                    last_used: None,
                    deactivated_at: None,
                },
                &policy,
            ),
            Sweep::Keep(r) if r.contains("not a key of this user")
        ));
        assert_eq!(hours(5400), "1.5 hours");
    }
}
