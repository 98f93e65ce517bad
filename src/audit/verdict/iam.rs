//! The IAM verdict: an access key's age against `IAM_MAX_KEY_AGE_DAYS`, and which rotation
//! secret holds it.

use super::{Judgement, Verdict, DAY};
use crate::aws::iam::{AccessKey, LastUse};
use crate::binding::is_bound;
use crate::binding::SecretKeyRefs;
use crate::time::rfc3339;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IamPolicy {
    pub max_age_days: u32,
    pub now: i64,
}

/// What GetAccessKeyLastUsed gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastUseLookup {
    /// Not asked: GetAccessKeyLastUsed changes no verdict, so a scheduled audit asks it only
    /// for keys that fail (their owner wants to know whether the key is still in use) and for
    /// the users an event names; the sweep asks again right before it acts.
    NotAsked,
    Known(LastUse),
    /// The call failed (its error code).
    Unknown(String),
}

/// The rotation secrets of an account, by the key ids their tags name. Tags are written by
/// whoever may tag a secret: they say which secret *claims* a key, never which secret holds it
/// (only the secret a key's user is bound to does, [`crate::binding`]).
#[derive(Debug, Clone, Default)]
pub struct SecretIndex {
    by_current: HashMap<String, Vec<SecretKeyRefs>>,
    by_pending: HashMap<String, Vec<SecretKeyRefs>>,
    by_previous: HashMap<String, Vec<SecretKeyRefs>>,
    /// Secrets whose keys are unknown (tagged as rotation secrets, no key-id tags yet).
    pub(super) untracked: Vec<String>,
    /// Every audited region's secrets were listed.
    pub complete: bool,
    /// In a member account's run, when the central account's secrets could not all be listed.
    pub central_gap: Option<CentralGap>,
    /// In a member account's run, the secrets of the central account among these (by ARN):
    /// anyone who may tag a secret there may name any key, so one of them manages a key only
    /// for a user bound to it.
    central: BTreeSet<String>,
}

/// A member account's run whose listing of the central account's secrets is incomplete: which
/// keys of the member's users bound to a central secret those secrets hold is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralGap {
    /// The member account audited (`None`: unknown).
    pub account: Option<String>,
    /// The regions whose central listing failed.
    pub regions: BTreeSet<String>,
}

impl CentralGap {
    /// Why a key whose user is bound (`binding`) to a secret outside the audited account is
    /// kept: which keys that secret holds, and whether it names this one as replaced, is
    /// unknown. `None` for a user unbound, bound to a secret of the account itself, or to a
    /// secret of a region whose listing did not fail: its keys are decided as ever (the hard
    /// stop included).
    pub fn keeps(&self, binding: Option<&str>) -> Option<String> {
        let bound_to = binding.map(str::trim).filter(|b| !b.is_empty())?;
        let arn = crate::arn::Arn::parse(bound_to);
        let in_account = arn.as_ref().and_then(|a| a.account_id());
        if self.account.is_some() && in_account == self.account.as_deref() {
            return None;
        }
        if arn.is_some_and(|a| !a.region.is_empty() && !self.regions.contains(a.region)) {
            return None;
        }
        Some(format!(
            "its user is bound to secret {bound_to}, outside this account, and the central account's rotation secrets could not all be listed"
        ))
    }
}

/// A secret whose key-id tags name a key as its AWSCURRENT or AWSPENDING key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub secret_arn: String,
    /// `AWSCURRENT` or `AWSPENDING`.
    pub stage: &'static str,
}

impl SecretIndex {
    pub fn new(
        refs: impl IntoIterator<Item = SecretKeyRefs>,
        untracked: Vec<String>,
        complete: bool,
    ) -> Self {
        let mut index = SecretIndex {
            complete,
            untracked,
            ..SecretIndex::default()
        };
        for r in refs {
            for (key, map) in [
                (&r.previous_key, &mut index.by_previous),
                (&r.pending_key, &mut index.by_pending),
                (&r.current_key, &mut index.by_current),
            ] {
                if let Some(k) = key {
                    map.entry(k.clone()).or_default().push(r.clone());
                }
            }
        }
        index
    }

    /// Marks the secrets of the central account (`central`, by ARN) among those of a member
    /// account's index.
    pub fn with_central(mut self, central: BTreeSet<String>) -> Self {
        self.central = central;
        self
    }

    /// Whether the secret's claims count for a key whose user's binding is `binding` (`None`:
    /// not read): a secret of the account's own always, one of the central account only when
    /// the user is bound to it.
    fn counts(&self, secret: &SecretKeyRefs, binding: Option<&str>) -> bool {
        !self.central.contains(&secret.secret_arn) || is_bound(binding, &secret.secret_arn)
    }

    /// A secret whose AWSCURRENT version holds this key, as its tags say (the first listed
    /// when several claim it), among those that count for a user whose binding is `binding`.
    pub fn current_of(&self, key_id: &str, binding: Option<&str>) -> Option<&SecretKeyRefs> {
        self.by_current
            .get(key_id)?
            .iter()
            .find(|s| self.counts(s, binding))
    }

    /// A secret whose AWSPENDING version holds this key (a rotation under way), as its tags say.
    pub fn pending_of(&self, key_id: &str) -> Option<&SecretKeyRefs> {
        self.by_pending.get(key_id).and_then(|v| v.first())
    }

    /// The secrets that name this key as the one their current key replaced.
    pub fn previous_of(&self, key_id: &str) -> &[SecretKeyRefs] {
        self.by_previous.get(key_id).map_or(&[], Vec::as_slice)
    }

    /// Every secret whose tags name this key as AWSCURRENT or AWSPENDING, whoever's it is.
    pub fn claims_on(&self, key_id: &str) -> Vec<Claim> {
        let mut claims = Vec::new();
        for (stage, map) in [
            (crate::aws::secrets::AWSCURRENT, &self.by_current),
            (crate::aws::secrets::AWSPENDING, &self.by_pending),
        ] {
            claims.extend(map.get(key_id).into_iter().flatten().map(|s| Claim {
                secret_arn: s.secret_arn.clone(),
                stage,
            }));
        }
        claims
    }

    /// Rotation secrets with rotation on and no key-id tags: the rotator has never finished a
    /// rotation for them, so which keys they hold is unknown.
    pub fn untracked(&self) -> &[String] {
        &self.untracked
    }
}

/// Whole days from `created` to `now` (never negative).
pub fn age_days(created: i64, now: i64) -> i64 {
    ((now - created) / DAY).max(0)
}

/// Whether an access key is old enough that the audit looks for the secret managing it.
pub fn is_old(key: &AccessKey, policy: &IamPolicy) -> bool {
    key.is_active()
        && key
            .created
            .is_some_and(|c| age_days(c, policy.now) >= i64::from(policy.max_age_days))
}

/// The verdict on one access key. `secrets` is consulted for the `managed_by` note (`None`:
/// not looked up, because the key is not old).
pub fn judge_access_key(
    key: &AccessKey,
    last_use: &LastUseLookup,
    secrets: Option<&SecretIndex>,
    policy: &IamPolicy,
) -> Judgement {
    use Verdict::*;
    match key.status.as_str() {
        "Active" => {}
        "Inactive" => return Judgement::new(NotApplicable, "inactive"),
        "Expired" => return Judgement::new(NotApplicable, "expired"),
        other => return Judgement::new(Error, format!("unknown key status {other:?}")),
    }
    let Some(created) = key.created else {
        return Judgement::new(Error, "ListAccessKeys gave no CreateDate");
    };
    let age = age_days(created, policy.now);
    let max = i64::from(policy.max_age_days);
    let (verdict, mut reason) = if age >= max {
        (
            NonCompliant,
            format!("age {age} days, at or over the {max}-day maximum"),
        )
    } else {
        (Compliant, format!("age {age} days"))
    };
    match last_use {
        LastUseLookup::Known(LastUse { date: None, .. }) => reason.push_str("; never used"),
        LastUseLookup::Known(LastUse {
            date: Some(d),
            service,
            ..
        }) => {
            reason.push_str(&format!("; last used {}", rfc3339(*d)));
            if let Some(s) = service {
                reason.push_str(&format!(" ({s})"));
            }
        }
        LastUseLookup::Unknown(code) => reason.push_str(&format!("; last use unknown ({code})")),
        LastUseLookup::NotAsked => {}
    }
    if let Some(index) = secrets {
        // The user's binding is not read here: a central secret's claim names no manager.
        if let Some(s) = index.current_of(&key.id, None) {
            reason.push_str(&format!("; managed by secret {}", s.secret_arn));
        } else if let Some(s) = index
            .previous_of(&key.id)
            .iter()
            .find(|s| index.counts(s, None))
        {
            reason.push_str(&format!(
                "; replaced by a rotation of secret {} but still Active",
                s.secret_arn
            ));
        }
    }
    Judgement::new(verdict, reason)
}

/// The root user's access keys (only their number is known without root credentials).
pub fn judge_root_keys(count: i32) -> Option<Judgement> {
    (count > 0).then(|| {
        Judgement::new(
            Verdict::NonCompliant,
            format!("the root user has {count} access key(s); root keys are non-compliant whatever their age"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verdict::fixtures::*;

    #[test]
    fn a_central_gap_keeps_only_the_keys_of_users_bound_outside_the_account() {
        let gap = CentralGap {
            account: Some("222222222222".to_owned()),
            regions: ["us-east-1".to_owned()].into(),
        };
        let own = "arn:aws:secretsmanager:us-east-1:222222222222:secret:bob-AbCdEf";
        let central = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alice-AbCdEf";
        // Unbound, or bound to a secret of the account itself: decided as ever.
        for binding in [None, Some(""), Some(own)] {
            assert_eq!(gap.keeps(binding), None, "{binding:?}");
        }
        // Bound to a secret of another account, or to something that names no account.
        for binding in [central, "ci/alice"] {
            assert!(
                gap.keeps(Some(binding))
                    .is_some_and(|why| why.contains(binding)),
                "{binding}"
            );
        }
        // A central secret of a region listed in full: decided as ever.
        let listed = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:carol-AbCdEf";
        assert_eq!(gap.keeps(Some(listed)), None);
        // The account audited unknown: every binding of a failed region is kept.
        let unknown = CentralGap {
            account: None,
            regions: gap.regions.clone(),
        };
        assert!(unknown.keeps(Some(own)).is_some());
    }

    #[test]
    fn a_central_secret_manages_a_key_only_for_a_user_bound_to_it() {
        const CENTRAL: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:claim";
        const OWN: &str = "arn:aws:secretsmanager:us-east-1:222222222222:secret:own";
        let index = SecretIndex::new(
            [
                secret(CENTRAL, Some("carol"), Some("AKIACAROL"), Some("AKIAOLD")),
                secret(OWN, Some("dave"), Some("AKIADAVE"), None),
            ],
            Vec::new(),
            true,
        )
        .with_central([CENTRAL.to_owned()].into());
        assert_eq!(index.current_of("AKIACAROL", None), None);
        assert_eq!(index.current_of("AKIACAROL", Some(OWN)), None);
        assert_eq!(
            index
                .current_of("AKIACAROL", Some(CENTRAL))
                .map(|s| s.secret_arn.as_str()),
            Some(CENTRAL)
        );
        // The account's own secrets' tags say which secret manages a key, as ever.
        assert_eq!(
            index
                .current_of("AKIADAVE", None)
                .map(|s| s.secret_arn.as_str()),
            Some(OWN)
        );
        let policy = IamPolicy {
            max_age_days: 90,
            now: 400 * DAY,
        };
        for id in ["AKIACAROL", "AKIAOLD"] {
            let key = AccessKey {
                user: "carol".into(),
                id: id.into(),
                status: "Active".into(),
                created: Some(0),
            };
            let j = judge_access_key(&key, &LastUseLookup::NotAsked, Some(&index), &policy);
            assert!(!j.reason.contains(CENTRAL), "{id}: {}", j.reason);
        }
    }

    #[test]
    fn access_key_verdict_table() {
        use Verdict::*;
        let index = SecretIndex::new(
            [
                secret(
                    "arn:sec/alice",
                    Some("alice"),
                    Some("AKIAOLD"),
                    Some("AKIAPREV"),
                ),
                secret("arn:sec/bob", Some("bob"), Some("AKIABOB"), None),
            ],
            Vec::new(),
            true,
        );
        /// Name, key, last use, secrets looked up, verdict, a piece of the reason.
        type Row<'a> = (
            &'a str,
            AccessKey,
            LastUseLookup,
            Option<&'a SecretIndex>,
            Verdict,
            &'a str,
        );
        let rows: Vec<Row> = vec![
            (
                "young, last use not asked",
                access_key("AKIA0", "Active", Some(12)),
                LastUseLookup::NotAsked,
                None,
                Compliant,
                "age 12 days",
            ),
            (
                "young, used",
                access_key("AKIA1", "Active", Some(12)),
                used(1),
                None,
                Compliant,
                "age 12 days; last used 2027-01-14T08:00:00Z (s3)",
            ),
            (
                "young, never used",
                access_key("AKIA2", "Active", Some(0)),
                never(),
                None,
                Compliant,
                "age 0 days; never used",
            ),
            (
                "one day under the max",
                access_key("AKIA3", "Active", Some(89)),
                used(1),
                None,
                Compliant,
                "age 89 days",
            ),
            (
                "exactly the max",
                access_key("AKIA4", "Active", Some(90)),
                used(1),
                None,
                NonCompliant,
                "age 90 days, at or over the 90-day maximum",
            ),
            (
                "old, never used",
                access_key("AKIA5", "Active", Some(400)),
                never(),
                None,
                NonCompliant,
                "age 400 days, at or over the 90-day maximum; never used",
            ),
            (
                "old, last use unknown",
                access_key("AKIA6", "Active", Some(100)),
                LastUseLookup::Unknown("AccessDenied".into()),
                None,
                NonCompliant,
                "last use unknown (AccessDenied)",
            ),
            (
                "old, managed by a secret",
                access_key("AKIAOLD", "Active", Some(100)),
                used(1),
                Some(&index),
                NonCompliant,
                "managed by secret arn:sec/alice",
            ),
            (
                "old, replaced but still active",
                access_key("AKIAPREV", "Active", Some(200)),
                used(1),
                Some(&index),
                NonCompliant,
                "replaced by a rotation of secret arn:sec/alice but still Active",
            ),
            (
                "old, in no secret",
                access_key("AKIA7", "Active", Some(200)),
                used(1),
                Some(&index),
                NonCompliant,
                "(s3)",
            ),
            (
                "inactive, however old",
                access_key("AKIA8", "Inactive", Some(900)),
                used(1),
                None,
                NotApplicable,
                "inactive",
            ),
            (
                "expired",
                access_key("AKIA9", "Expired", Some(10)),
                never(),
                None,
                NotApplicable,
                "expired",
            ),
            (
                "no create date",
                access_key("AKIA10", "Active", None),
                never(),
                None,
                Error,
                "no CreateDate",
            ),
            (
                "unknown status",
                access_key("AKIA11", "Suspended", Some(1)),
                never(),
                None,
                Error,
                "unknown key status \"Suspended\"",
            ),
        ];
        for (name, key, last, secrets, verdict, reason) in rows {
            let j = judge_access_key(&key, &last, secrets, &IAM);
            assert_eq!(j.verdict, verdict, "{name}: {j:?}");
            if last == LastUseLookup::NotAsked {
                assert_eq!(j.reason, reason, "{name}: nothing said of a use not asked");
            }
            assert!(
                j.reason.contains(reason),
                "{name}: {:?} lacks {reason:?}",
                j.reason
            );
            assert!(!j.remediable, "{name}");
        }
        assert!(!judge_access_key(
            &access_key("AKIA7", "Active", Some(200)),
            &used(1),
            Some(&index),
            &IAM
        )
        .reason
        .contains("secret"));
    }

    #[test]
    fn only_active_keys_at_or_over_the_max_are_old() {
        assert!(is_old(&access_key("a", "Active", Some(90)), &IAM));
        assert!(!is_old(&access_key("a", "Active", Some(89)), &IAM));
        assert!(!is_old(&access_key("a", "Inactive", Some(900)), &IAM));
        assert!(!is_old(&access_key("a", "Active", None), &IAM));
        assert_eq!(age_days(NOW + DAY, NOW), 0);
    }

    #[test]
    fn root_keys_are_non_compliant_whatever_their_age() {
        assert_eq!(judge_root_keys(0), None);
        let j = judge_root_keys(2).unwrap();
        assert_eq!(j.verdict, Verdict::NonCompliant);
        assert!(j.reason.contains("2 access key(s)"));
    }
}
