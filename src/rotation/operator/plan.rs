//! The operator actions' decisions, as pure functions: the facts an action has read go in, what
//! it must read next, refuse or do comes out. No AWS call here; `super` reads the facts the
//! planner asks for, in the order it asks, and carries out its answer.

use crate::aws::iam::{AccessKey, LastUse};
use crate::aws::secrets::{AWSCURRENT, AWSPENDING};
use crate::binding::{DEACTIVATED_TAG, ROLLBACK_TAG};
use crate::rotation::intent::Intent;
use crate::time::rfc3339;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// The managed policies AWS attaches to a user whose key it found exposed
/// (`AWSCompromisedKeyQuarantine`, `AWSCompromisedKeyQuarantineV2`, …).
pub const QUARANTINE_POLICY_PREFIX: &str = "AWSCompromisedKeyQuarantine";

/// A secret's versions and stages, and its tags (the guard's DescribeSecret).
#[derive(Debug, Clone, Copy)]
pub struct Stages<'a> {
    pub versions: &'a HashMap<String, Vec<String>>,
    pub tags: &'a [(String, String)],
}

impl<'a> Stages<'a> {
    pub fn version_with(&self, stage: &str) -> Option<&'a str> {
        let mut found = self
            .versions
            .iter()
            .filter(|(_, s)| s.iter().any(|x| x == stage))
            .map(|(v, _)| v.as_str());
        found.next()
    }

    /// The version AWSPENDING is on when that is not the AWSCURRENT one: a rotation under way,
    /// or one that stopped.
    pub fn pending_version(&self) -> Option<&'a str> {
        self.versions
            .iter()
            .find(|(_, s)| s.iter().any(|x| x == AWSPENDING) && !s.iter().any(|x| x == AWSCURRENT))
            .map(|(v, _)| v.as_str())
    }

    /// Every version that carries AWSPENDING, in a stable order.
    pub fn every_pending(&self) -> Vec<&'a str> {
        let mut pending: Vec<&str> = self
            .versions
            .iter()
            .filter(|(_, stages)| stages.iter().any(|x| x == AWSPENDING))
            .map(|(v, _)| v.as_str())
            .collect();
        pending.sort_unstable();
        pending
    }

    /// `<from version>:<to version>` of the last Rollback.
    pub fn last_rollback(&self) -> Option<(&'a str, &'a str)> {
        self.tags
            .iter()
            .find(|(k, _)| k == ROLLBACK_TAG)
            .and_then(|(_, v)| v.split_once(':'))
    }

    /// The versions that carry a stage, AWSPENDING first, then AWSCURRENT, AWSPREVIOUS, others.
    pub fn staged(&self) -> Vec<(&'a str, &'a [String])> {
        let mut staged: Vec<(&'a str, &'a [String])> = self
            .versions
            .iter()
            .filter(|(_, stages)| !stages.is_empty())
            .map(|(v, s)| (v.as_str(), s.as_slice()))
            .collect();
        staged.sort_by_key(|(v, stages)| {
            let rank = [AWSPENDING, AWSCURRENT, AWSPREVIOUS]
                .iter()
                .position(|s| stages.iter().any(|x| x == s))
                .unwrap_or(3);
            (rank, v.to_string())
        });
        staged
    }
}

/// What a version's value says, as far as the actions need it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionValue {
    pub user_name: String,
    pub key: Option<String>,
    pub previous_key: Option<String>,
}

/// The bound user, as GetUser showed it.
#[derive(Debug, Clone, Default)]
pub struct UserFacts {
    pub name: String,
    /// The keys the rotator recorded as created for this secret (computed once).
    pub own: HashSet<String>,
    /// The intent tag, parsed.
    pub intent: Option<Intent>,
    /// The sweep's deactivation record (`KeyRotationDeactivated`).
    pub deactivated_tag: Option<String>,
}

impl UserFacts {
    pub fn from_info(info: &crate::aws::iam::UserInfo, own: HashSet<String>) -> Self {
        Self {
            name: info.name.clone(),
            own,
            intent: info
                .tag(crate::rotation::intent::INTENT_TAG)
                .and_then(Intent::from_tag_value),
            deactivated_tag: info.tag(DEACTIVATED_TAG).map(str::to_owned),
        }
    }
}

/// A fact a Rollback needs before it can decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The key id the value of this version names.
    VersionKey(String),
    /// The value of the AWSPREVIOUS version, this one.
    Previous(String),
    /// The user's access keys.
    Keys,
    /// AWS's compromised-key quarantine policies attached to the user.
    Quarantine,
    /// Whether the AWSPREVIOUS version proves it holds its key (it signs as the user).
    Proof,
}

/// A fact a Cancel needs before it can decide: when this key was last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsedOf(pub String);

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<T, N = Need> {
    Need(N),
    /// Refused with the reason: nothing is changed.
    Refuse(String),
    Do(T),
}

// ------------------------------------------------------------------------------------------
// Rollback
// ------------------------------------------------------------------------------------------

/// What a Rollback knows; `None` where it has not read yet.
#[derive(Debug, Clone)]
pub struct RollbackFacts<'a> {
    pub stages: Stages<'a>,
    pub current_version: &'a str,
    pub current: &'a VersionValue,
    pub user: &'a UserFacts,
    pub reactivate_key: bool,
    pub version_keys: HashMap<String, Option<String>>,
    /// The AWSPREVIOUS version's value; `Some(None)` when it has none.
    pub previous: Option<Option<VersionValue>>,
    pub keys: Option<Vec<AccessKey>>,
    pub quarantine: Option<Vec<String>>,
    pub proved: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// An earlier Rollback moved AWSCURRENT (and may have stopped there): remove AWSPENDING
    /// everywhere, deactivate the key it rolled back from if it is the secret's own, record.
    Finish {
        from: String,
        to: String,
        rolled_back: Option<String>,
        deactivate: Option<String>,
    },
    /// Remove AWSPENDING everywhere, make the previous key Active if it is not, move AWSCURRENT
    /// back (recording the Rollback first), deactivate the rolled-back key if it is the
    /// secret's own.
    Roll {
        from_version: String,
        to_version: String,
        previous_key: String,
        reactivate: bool,
        deactivate: Option<String>,
        /// The rolled-back key when it is not the secret's own: left as it is.
        foreign: Option<String>,
    },
}

pub fn rollback(f: &RollbackFacts<'_>) -> Plan<Rollback> {
    let own = &f.user.own;
    // A Rollback already moved AWSCURRENT: finish it. The record is a secret tag, which the
    // secret's writers can set too: it counts only when it agrees with the stages (the version
    // it rolled back from is AWSPREVIOUS now).
    let done = f.stages.last_rollback().filter(|(from, to)| {
        *to == f.current_version && from != to && f.stages.version_with(AWSPREVIOUS) == Some(*from)
    });
    if let Some((from, to)) = done {
        let Some(key) = f.version_keys.get(from) else {
            return Plan::Need(Need::VersionKey(from.to_owned()));
        };
        let rolled_back = key
            .clone()
            .filter(|k| Some(k.as_str()) != f.current.key.as_deref());
        return Plan::Do(Rollback::Finish {
            from: from.to_owned(),
            to: to.to_owned(),
            deactivate: rolled_back.clone().filter(|k| own.contains(k)),
            rolled_back,
        });
    }
    // Everything that can refuse is read and decided before anything changes.
    if let Some(p) = f.stages.pending_version() {
        return Plan::Refuse(format!(
            "a rotation is under way (AWSPENDING is on version {p}); let it finish, or Cancel it first"
        ));
    }
    let Some(previous_version) = f.stages.version_with(AWSPREVIOUS) else {
        return Plan::Refuse("the secret has no AWSPREVIOUS version to roll back to".into());
    };
    let previous = match &f.previous {
        None => return Plan::Need(Need::Previous(previous_version.to_owned())),
        Some(None) => return Plan::Refuse("the AWSPREVIOUS version has no value".into()),
        Some(Some(p)) => p,
    };
    let Some(previous_key) = previous.key.clone() else {
        return Plan::Refuse("the AWSPREVIOUS version names no AccessKeyId".into());
    };
    if !previous.user_name.eq_ignore_ascii_case(&f.user.name) {
        return Plan::Refuse(format!(
            "the AWSPREVIOUS version belongs to IAM user {:?}, not {:?}",
            previous.user_name, f.user.name
        ));
    }
    let Some(keys) = &f.keys else {
        return Plan::Need(Need::Keys);
    };
    let Some(found) = keys.iter().find(|k| k.id == previous_key) else {
        return Plan::Refuse(format!(
            "the previous key {previous_key} of IAM user {:?} no longer exists",
            f.user.name
        ));
    };
    let Some(quarantine) = &f.quarantine else {
        return Plan::Need(Need::Quarantine);
    };
    if let Some(policy) = quarantine.first() {
        return Plan::Refuse(format!(
            "IAM user {:?} carries AWS's compromised-key quarantine policy {policy}: a key of it was exposed. Close the incident (rotate, then detach the policy) before any rollback",
            f.user.name
        ));
    }
    if !found.is_active() && !f.reactivate_key {
        return Plan::Refuse(format!(
            "the previous key {previous_key} is Inactive and someone may have deactivated it on purpose (Status shows who, as far as this system knows); send \"ReactivateKey\": true to make it Active again",
        ));
    }
    // Only the secret's own key comes back: one the rotator made, or one the version proves it
    // holds (an Inactive key cannot sign).
    let proved = own.contains(&previous_key)
        || (found.is_active()
            && match f.proved {
                None => return Plan::Need(Need::Proof),
                Some(p) => p,
            });
    if !proved {
        return Plan::Refuse(format!(
            "the previous key {previous_key} is not the secret's own: the rotator did not create it for this secret and the AWSPREVIOUS version does not prove it holds it"
        ));
    }
    let rolled_back = f.current.key.clone();
    Plan::Do(Rollback::Roll {
        from_version: f.current_version.to_owned(),
        to_version: previous_version.to_owned(),
        previous_key,
        reactivate: !found.is_active(),
        deactivate: rolled_back.clone().filter(|k| own.contains(k)),
        foreign: rolled_back.filter(|k| !own.contains(k)),
    })
}

// ------------------------------------------------------------------------------------------
// Cancel
// ------------------------------------------------------------------------------------------

/// What a Cancel knows.
#[derive(Debug, Clone, Default)]
pub struct CancelFacts {
    pub pending: Option<VersionValue>,
    pub current: Option<VersionValue>,
    /// The bound user and their keys; `None` when neither version names a user.
    pub user: Option<(UserFacts, Vec<AccessKey>)>,
    pub last_used: HashMap<String, LastUse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    /// The attempt's keys, deleted before AWSPENDING is removed.
    pub delete: Vec<AccessKey>,
    /// A key the pending version names that the rotator did not create for this secret.
    pub kept: Vec<String>,
    /// This attempt's intent is on the user: cleared once its keys are gone.
    pub clear_intent: bool,
}

/// The intent of the attempt `pending_version` made, if it is on the user.
fn attempt_intent<'u>(user: &'u UserFacts, pending_version: &str) -> Option<&'u Intent> {
    user.intent.as_ref().filter(|i| i.is_for(pending_version))
}

pub fn cancel(pending_version: &str, f: &CancelFacts) -> Plan<Cancel, LastUsedOf> {
    let Some((user, keys)) = &f.user else {
        return Plan::Do(Cancel {
            delete: Vec::new(),
            kept: Vec::new(),
            clear_intent: false,
        });
    };
    let intent = attempt_intent(user, pending_version);
    let doomed = attempt_keys(
        keys,
        f.pending.as_ref(),
        f.current.as_ref(),
        intent,
        &user.own,
    );
    let mut kept = Vec::new();
    if let Some(id) = f.pending.as_ref().and_then(|p| p.key.as_deref()) {
        if keys.iter().any(|k| k.id == id) && !doomed.iter().any(|k| k.id == id) {
            kept.push(id.to_owned());
        }
    }
    // Every key of the attempt is checked before any is deleted: one used by anything but
    // testSecret's own STS call is someone's.
    for k in doomed.iter().filter(|k| k.is_active()) {
        let Some(used) = f.last_used.get(&k.id) else {
            return Plan::Need(LastUsedOf(k.id.clone()));
        };
        if let (Some(at), false) = (used.date, used.service.as_deref() == Some("sts")) {
            return Plan::Refuse(format!(
                "the pending key {} was used at {} ({}); find who uses it before cancelling",
                k.id,
                rfc3339(at),
                used.service.as_deref().unwrap_or("unknown service")
            ));
        }
    }
    Plan::Do(Cancel {
        delete: doomed.into_iter().cloned().collect(),
        kept,
        clear_intent: intent.is_some(),
    })
}

/// The keys a stopped attempt made: the one its version stores, and any its intent says it
/// created before storing it. Never the current key or the key it replaced.
fn attempt_keys<'k>(
    keys: &'k [AccessKey],
    pending: Option<&VersionValue>,
    current: Option<&VersionValue>,
    intent: Option<&Intent>,
    own: &HashSet<String>,
) -> Vec<&'k AccessKey> {
    let current_id = current.and_then(|c| c.key.as_deref());
    let previous_id = current.and_then(|c| c.previous_key.as_deref());
    let pending_id = pending.and_then(|p| p.key.as_deref());
    keys.iter()
        .filter(|k| Some(k.id.as_str()) != current_id && Some(k.id.as_str()) != previous_id)
        .filter(|k| {
            // The pending version names a key; only the rotator's record makes it the attempt's.
            (Some(k.id.as_str()) == pending_id && own.contains(&k.id))
                || intent.is_some_and(|i| i.made(&k.id))
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Status
// ------------------------------------------------------------------------------------------

/// What Status read.
#[derive(Debug, Clone)]
pub struct StatusFacts<'a> {
    pub stages: Stages<'a>,
    /// Whether the user is bound (`true`), why not (the error), or unknown (no current value).
    pub bound: Value,
    pub user: Option<UserFacts>,
    pub keys: Vec<AccessKey>,
    /// The key id each staged version names (read once per version).
    pub version_keys: HashMap<String, Option<String>>,
    pub last_used: HashMap<String, LastUse>,
}

/// The staged keys Status reports the last use of: those IAM still lists.
pub fn status_needs(f: &StatusFacts<'_>) -> Vec<String> {
    if f.user.is_none() {
        return Vec::new();
    }
    let mut needed = Vec::new();
    for (version, _) in f.stages.staged() {
        if let Some(Some(id)) = f.version_keys.get(version) {
            if f.keys.iter().any(|k| &k.id == id) && !needed.contains(id) {
                needed.push(id.clone());
            }
        }
    }
    needed
}

/// Who or what made `key` Inactive, as far as this system knows.
fn deactivated_by(f: &StatusFacts<'_>, user: &UserFacts, key: &str) -> String {
    if let Some(at) = crate::binding::deactivated_at(user.deactivated_tag.as_deref(), key) {
        return format!("the audit's sweep, at {}", rfc3339(at));
    }
    let rolled_back = f
        .stages
        .last_rollback()
        .and_then(|(from, _)| f.version_keys.get(from).cloned().flatten());
    if rolled_back.as_deref() == Some(key) {
        return "a Rollback, as the secret's tag KeyRotationRollback says (the secret's writers can set that tag too: CloudTrail's UpdateAccessKey event names who)".to_owned();
    }
    "not recorded by this system: a person, an incident responder or another tool may have (CloudTrail's UpdateAccessKey event names who)".to_owned()
}

fn status_word(k: &AccessKey) -> &'static str {
    if k.is_active() {
        "Active"
    } else {
        "Inactive"
    }
}

/// The `Versions` and `RotationInProgress` parts of the Status answer.
pub fn status_versions(f: &StatusFacts<'_>) -> (Vec<Value>, Value) {
    let mut versions = Vec::new();
    for (version, stages) in f.stages.staged() {
        let key = f.version_keys.get(version).cloned().flatten();
        let mut entry = json!({"VersionId": version, "Stages": stages, "AccessKeyId": key});
        if let (Some(user), Some(id)) = (&f.user, key.as_deref()) {
            match f.keys.iter().find(|k| k.id == id) {
                None => entry["KeyStatus"] = json!("absent from IAM"),
                Some(k) => {
                    entry["KeyStatus"] = json!(status_word(k));
                    if !k.is_active() {
                        entry["DeactivatedBy"] = json!(deactivated_by(f, user, id));
                    }
                    entry["OwnKey"] = json!(user.own.contains(id));
                    entry["KeyCreated"] = json!(k.created.map(rfc3339));
                    if let Some(used) = f.last_used.get(id) {
                        entry["LastUsed"] = json!(used.date.map(rfc3339));
                        entry["LastUsedService"] = json!(used.service);
                        entry["LastUsedRegion"] = json!(used.region);
                    }
                }
            }
        }
        versions.push(entry);
    }
    let stuck = match f.stages.pending_version() {
        None => Value::Null,
        Some(p) => {
            let left_at = match f.version_keys.get(p).cloned().flatten() {
                None => "createSecret did not store a key",
                Some(_) => "createSecret stored a key; setSecret, testSecret or finishSecret did not complete",
            };
            json!({"PendingVersion": p, "LeftAt": left_at})
        }
    };
    (versions, stuck)
}

/// The user's keys as Status lists them.
pub fn user_keys(keys: &[AccessKey]) -> Vec<Value> {
    keys.iter()
        .map(|k| json!({"AccessKeyId": k.id, "Status": status_word(k)}))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Every action against every state of a secret, as a table: the planner is driven the way
    //! `super` drives it, its questions answered from the state.
    use super::*;

    fn key(id: &str, active: bool) -> AccessKey {
        AccessKey {
            user: "app".into(),
            id: id.into(),
            status: if active { "Active" } else { "Inactive" }.into(),
            created: Some(1_795_000_000),
        }
    }

    fn value(key: Option<&str>, previous: Option<&str>) -> VersionValue {
        VersionValue {
            user_name: "app".into(),
            key: key.map(str::to_owned),
            previous_key: previous.map(str::to_owned),
        }
    }

    /// A secret, its user and what IAM says.
    #[derive(Clone, Default)]
    struct State {
        versions: HashMap<String, Vec<String>>,
        tags: Vec<(String, String)>,
        values: HashMap<String, VersionValue>,
        user: UserFacts,
        keys: Vec<AccessKey>,
        quarantine: Vec<String>,
        proves: bool,
        used: HashMap<String, LastUse>,
        reactivate: bool,
    }

    impl State {
        fn stages(&self) -> Stages<'_> {
            Stages {
                versions: &self.versions,
                tags: &self.tags,
            }
        }
        fn version(mut self, v: &str, stages: &[&str], val: Option<VersionValue>) -> Self {
            self.versions
                .insert(v.into(), stages.iter().map(|s| s.to_string()).collect());
            if let Some(val) = val {
                self.values.insert(v.into(), val);
            }
            self
        }
        fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
            f(&mut self);
            self
        }
        fn key_of(&self, v: &str) -> Option<String> {
            self.values.get(v).and_then(|x| x.key.clone())
        }
    }

    /// Rotated once: K2 AWSCURRENT, K1 AWSPREVIOUS, both Active and the secret's own.
    fn settled() -> State {
        State {
            user: UserFacts {
                name: "app".into(),
                own: ["K1".to_owned(), "K2".to_owned()].into(),
                ..UserFacts::default()
            },
            keys: vec![key("K1", true), key("K2", true)],
            ..State::default()
        }
        .version("v1", &[AWSPREVIOUS], Some(value(Some("K1"), None)))
        .version("v2", &[AWSCURRENT], Some(value(Some("K2"), Some("K1"))))
    }

    /// A rotation that stopped after createSecret stored K3 (K1, the replaced key, is gone).
    fn stuck_stored() -> State {
        settled()
            .version("v3", &[AWSPENDING], Some(value(Some("K3"), Some("K2"))))
            .with(|s| {
                s.keys = vec![key("K2", true), key("K3", true)];
                s.user.own.insert("K3".into());
                s.user.intent = Some(Intent::new("v3", 1, vec!["K2".into()]).completed("K3"));
            })
    }

    fn rollback_outcome(s: &State) -> String {
        let stages = s.stages();
        let current_version = stages.version_with(AWSCURRENT).unwrap();
        let current = s.values[current_version].clone();
        let mut f = RollbackFacts {
            stages,
            current_version,
            current: &current,
            user: &s.user,
            reactivate_key: s.reactivate,
            version_keys: HashMap::new(),
            previous: None,
            keys: None,
            quarantine: None,
            proved: None,
        };
        let mut asked = Vec::new();
        loop {
            let step = rollback(&f);
            if let Plan::Need(n) = &step {
                assert!(!asked.contains(n), "asked twice for {n:?}");
                asked.push(n.clone());
            }
            match step {
                Plan::Need(Need::VersionKey(v)) => {
                    let k = s.key_of(&v);
                    f.version_keys.insert(v, k);
                }
                Plan::Need(Need::Previous(v)) => f.previous = Some(s.values.get(&v).cloned()),
                Plan::Need(Need::Keys) => f.keys = Some(s.keys.clone()),
                Plan::Need(Need::Quarantine) => f.quarantine = Some(s.quarantine.clone()),
                Plan::Need(Need::Proof) => f.proved = Some(s.proves),
                Plan::Refuse(why) => return format!("refused: {why}"),
                Plan::Do(Rollback::Finish { to, deactivate, .. }) => {
                    return format!("finish: to {to}, deactivate {deactivate:?}")
                }
                Plan::Do(Rollback::Roll {
                    to_version,
                    previous_key,
                    reactivate,
                    deactivate,
                    foreign,
                    ..
                }) => {
                    return format!(
                        "roll: to {to_version} ({previous_key}{}), deactivate {deactivate:?}, leave {foreign:?}",
                        if reactivate { ", reactivated" } else { "" }
                    )
                }
            }
        }
    }

    fn cancel_outcome(s: &State) -> String {
        let Some(pending_version) = s.stages().pending_version() else {
            return "nothing: no rotation is under way".into();
        };
        let mut f = CancelFacts {
            pending: s.values.get(pending_version).cloned(),
            current: s
                .stages()
                .version_with(AWSCURRENT)
                .and_then(|v| s.values.get(v))
                .cloned(),
            user: Some((s.user.clone(), s.keys.clone())),
            last_used: HashMap::new(),
        };
        loop {
            match cancel(pending_version, &f) {
                Plan::Need(LastUsedOf(k)) => {
                    let used = s.used.get(&k).cloned().unwrap_or_default();
                    assert!(f.last_used.insert(k, used).is_none(), "asked twice");
                }
                Plan::Refuse(why) => return format!("refused: {why}"),
                Plan::Do(c) => {
                    let ids: Vec<&str> = c.delete.iter().map(|k| k.id.as_str()).collect();
                    return format!(
                        "cancel: delete {ids:?}, keep {:?}, clear intent {}",
                        c.kept, c.clear_intent
                    );
                }
            }
        }
    }

    fn status_outcome(s: &State) -> String {
        let stages = s.stages();
        let mut f = StatusFacts {
            stages,
            bound: json!(true),
            user: Some(s.user.clone()),
            keys: s.keys.clone(),
            version_keys: stages
                .staged()
                .iter()
                .map(|(v, _)| (v.to_string(), s.key_of(v)))
                .collect(),
            last_used: HashMap::new(),
        };
        for k in status_needs(&f) {
            f.last_used
                .insert(k.clone(), s.used.get(&k).cloned().unwrap_or_default());
        }
        let (versions, stuck) = status_versions(&f);
        let mut out: Vec<String> = versions
            .iter()
            .map(|v| {
                let own = if v["OwnKey"] == true { " own" } else { "" };
                let by = v["DeactivatedBy"]
                    .as_str()
                    .map(|b| {
                        format!(
                            " by {}",
                            b.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "{} {} {}{own}{by}",
                    v["Stages"][0].as_str().unwrap_or("-"),
                    v["AccessKeyId"].as_str().unwrap_or("-"),
                    v["KeyStatus"].as_str().unwrap_or("-"),
                )
            })
            .collect();
        if let Some(left) = stuck["LeftAt"].as_str() {
            out.push(format!("stuck: {}", left.split(';').next().unwrap_or(left)));
        }
        out.join(" | ")
    }

    /// `expected` matches when equal, or, for a refusal, when the answer contains it.
    fn check(state: &str, action: &str, got: &str, expected: &str) {
        let ok = match expected.strip_prefix("refused: ") {
            Some(part) => got.starts_with("refused: ") && got.contains(part),
            None => got == expected,
        };
        assert!(
            ok,
            "{action} on {state}:\n  got      {got}\n  expected {expected}"
        );
    }

    #[test]
    fn every_action_in_every_state() {
        let table: Vec<(&str, State, &str, &str, &str)> = vec![
            (
                "settled after one rotation",
                settled(),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active own",
                "roll: to v1 (K1), deactivate Some(\"K2\"), leave None",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key Inactive, no ReactivateKey",
                settled().with(|s| s.keys[0] = key("K1", false)),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Inactive own by not recorded by",
                "refused: is Inactive and someone may have deactivated it on purpose",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key Inactive, deactivated by the sweep, ReactivateKey",
                settled().with(|s| {
                    s.keys[0] = key("K1", false);
                    s.user.deactivated_tag = Some("K1:1795000000".into());
                    s.reactivate = true;
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Inactive own by the audit's sweep,",
                "roll: to v1 (K1, reactivated), deactivate Some(\"K2\"), leave None",
                "nothing: no rotation is under way",
            ),
            (
                "the user under AWS's quarantine",
                settled().with(|s| s.quarantine = vec!["AWSCompromisedKeyQuarantineV2".into()]),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active own",
                "refused: quarantine policy AWSCompromisedKeyQuarantineV2",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key deleted",
                settled().with(|s| {
                    s.keys.remove(0);
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM",
                "refused: the previous key K1 of IAM user \"app\" no longer exists",
                "nothing: no rotation is under way",
            ),
            (
                "never rotated: no AWSPREVIOUS",
                State::default()
                    .version("v1", &[AWSCURRENT], Some(value(Some("K1"), None)))
                    .with(|s| {
                        s.user.name = "app".into();
                        s.keys = vec![key("K1", true)];
                    }),
                "AWSCURRENT K1 Active",
                "refused: no AWSPREVIOUS version",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key not the secret's own, but the version proves it",
                settled().with(|s| {
                    s.user.own.remove("K1");
                    s.proves = true;
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active",
                "roll: to v1 (K1), deactivate Some(\"K2\"), leave None",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key not the secret's own, no proof",
                settled().with(|s| {
                    s.user.own.remove("K1");
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active",
                "refused: is not the secret's own",
                "nothing: no rotation is under way",
            ),
            (
                "the previous key Inactive and not the secret's own, ReactivateKey",
                settled().with(|s| {
                    s.keys[0] = key("K1", false);
                    s.user.own.remove("K1");
                    s.proves = true;
                    s.reactivate = true;
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Inactive by not recorded by",
                "refused: is not the secret's own",
                "nothing: no rotation is under way",
            ),
            (
                "the current key not the secret's own",
                settled().with(|s| {
                    s.user.own.remove("K2");
                }),
                "AWSCURRENT K2 Active | AWSPREVIOUS K1 Active own",
                "roll: to v1 (K1), deactivate None, leave Some(\"K2\")",
                "nothing: no rotation is under way",
            ),
            (
                "the previous version names another user",
                settled().with(|s| s.values.get_mut("v1").unwrap().user_name = "admin".into()),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active own",
                "refused: belongs to IAM user \"admin\", not \"app\"",
                "nothing: no rotation is under way",
            ),
            (
                "the previous version has no value",
                settled().with(|s| {
                    s.values.remove("v1");
                }),
                "AWSCURRENT K2 Active own | AWSPREVIOUS - -",
                "refused: the AWSPREVIOUS version has no value",
                "nothing: no rotation is under way",
            ),
            (
                "a rotation stopped after storing its key",
                stuck_stored(),
                "AWSPENDING K3 Active own | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret stored a key",
                "refused: a rotation is under way (AWSPENDING is on version v3)",
                "cancel: delete [\"K3\"], keep [], clear intent true",
            ),
            (
                "a rotation stopped after storing its key, which was used since",
                stuck_stored().with(|s| {
                    s.used.insert(
                        "K3".into(),
                        LastUse {
                            date: Some(1_795_000_100),
                            service: Some("s3".into()),
                            region: Some("us-east-1".into()),
                        },
                    );
                }),
                "AWSPENDING K3 Active own | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret stored a key",
                "refused: a rotation is under way",
                "refused: the pending key K3 was used at",
            ),
            (
                "a rotation stopped after storing its key, used by testSecret only",
                stuck_stored().with(|s| {
                    s.used.insert(
                        "K3".into(),
                        LastUse {
                            date: Some(1_795_000_100),
                            service: Some("sts".into()),
                            region: Some("us-east-1".into()),
                        },
                    );
                }),
                "AWSPENDING K3 Active own | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret stored a key",
                "refused: a rotation is under way",
                "cancel: delete [\"K3\"], keep [], clear intent true",
            ),
            (
                "a rotation stopped after storing its key; a person made K4 since",
                stuck_stored().with(|s| s.keys.push(key("K4", true))),
                "AWSPENDING K3 Active own | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret stored a key",
                "refused: a rotation is under way",
                "cancel: delete [\"K3\"], keep [], clear intent true",
            ),
            (
                "a rotation whose pending version names a key the rotator did not make",
                stuck_stored().with(|s| {
                    s.user.own.remove("K3");
                    s.user.intent = None;
                }),
                "AWSPENDING K3 Active | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret stored a key",
                "refused: a rotation is under way",
                "cancel: delete [], keep [\"K3\"], clear intent false",
            ),
            (
                "a rotation stopped after CreateAccessKey, before storing the key",
                settled()
                    .version("v3", &[AWSPENDING], None)
                    .with(|s| {
                        s.keys = vec![key("K2", true), key("K3", true)];
                        s.user.intent = Some(Intent::new("v3", 1, vec!["K2".into()]));
                    }),
                "AWSPENDING - - | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret did not store a key",
                "refused: a rotation is under way",
                "cancel: delete [\"K3\"], keep [], clear intent true",
            ),
            (
                "a rotation stopped before CreateAccessKey",
                settled()
                    .version("v3", &[AWSPENDING], None)
                    .with(|s| s.keys = vec![key("K2", true)]),
                "AWSPENDING - - | AWSCURRENT K2 Active own | AWSPREVIOUS K1 absent from IAM | stuck: createSecret did not store a key",
                "refused: a rotation is under way",
                "cancel: delete [], keep [], clear intent false",
            ),
            (
                "rolled back (the record agrees with the stages); the rolled-back key still Active",
                State::default()
                    .version("v1", &[AWSCURRENT], Some(value(Some("K1"), None)))
                    .version("v2", &[AWSPREVIOUS], Some(value(Some("K2"), Some("K1"))))
                    .with(|s| {
                        s.tags = vec![(ROLLBACK_TAG.into(), "v2:v1".into())];
                        s.user = settled().user;
                        s.keys = vec![key("K1", true), key("K2", true)];
                    }),
                "AWSCURRENT K1 Active own | AWSPREVIOUS K2 Active own",
                "finish: to v1, deactivate Some(\"K2\")",
                "nothing: no rotation is under way",
            ),
            (
                "rolled back; the rolled-back key deactivated by the Rollback",
                State::default()
                    .version("v1", &[AWSCURRENT], Some(value(Some("K1"), None)))
                    .version("v2", &[AWSPREVIOUS], Some(value(Some("K2"), Some("K1"))))
                    .with(|s| {
                        s.tags = vec![(ROLLBACK_TAG.into(), "v2:v1".into())];
                        s.user = settled().user;
                        s.keys = vec![key("K1", true), key("K2", false)];
                    }),
                "AWSCURRENT K1 Active own | AWSPREVIOUS K2 Inactive own by a Rollback, as",
                "finish: to v1, deactivate Some(\"K2\")",
                "nothing: no rotation is under way",
            ),
            (
                "a rollback record a secret writer forged (it disagrees with the stages)",
                settled().with(|s| s.tags = vec![(ROLLBACK_TAG.into(), "v9:v2".into())]),
                "AWSCURRENT K2 Active own | AWSPREVIOUS K1 Active own",
                "roll: to v1 (K1), deactivate Some(\"K2\"), leave None",
                "nothing: no rotation is under way",
            ),
        ];
        for (state, s, status, rollback, cancel) in &table {
            check(state, "Status", &status_outcome(s), status);
            check(state, "Rollback", &rollback_outcome(s), rollback);
            check(state, "Cancel", &cancel_outcome(s), cancel);
        }
    }

    #[test]
    fn status_asks_the_last_use_of_each_key_once() {
        // Two versions naming the same key: one GetAccessKeyLastUsed.
        let s = settled().with(|s| s.values.get_mut("v1").unwrap().key = Some("K2".into()));
        let stages = s.stages();
        let f = StatusFacts {
            stages,
            bound: json!(true),
            user: Some(s.user.clone()),
            keys: s.keys.clone(),
            version_keys: [("v1", "K2"), ("v2", "K2")]
                .iter()
                .map(|(v, k)| (v.to_string(), Some(k.to_string())))
                .collect(),
            last_used: HashMap::new(),
        };
        assert_eq!(status_needs(&f), vec!["K2".to_owned()]);
    }

    #[test]
    fn an_own_previous_key_needs_no_proof() {
        let s = settled();
        let current = s.values["v2"].clone();
        let mut f = RollbackFacts {
            stages: s.stages(),
            current_version: "v2",
            current: &current,
            user: &s.user,
            reactivate_key: false,
            version_keys: HashMap::new(),
            previous: Some(Some(s.values["v1"].clone())),
            keys: Some(s.keys.clone()),
            quarantine: Some(Vec::new()),
            proved: None,
        };
        assert!(matches!(rollback(&f), Plan::Do(Rollback::Roll { .. })));
        let stranger = UserFacts {
            name: "app".into(),
            ..UserFacts::default()
        };
        f.user = &stranger;
        assert_eq!(rollback(&f), Plan::Need(Need::Proof));
    }
}
