//! Pure decisions of createSecret: which of the user's keys to delete, and what stops a
//! rotation. The caller answers each `Need*` with one AWS read and asks again.
//!
//! Every key of the (bound) user is one of: the current key (never deleted here); an orphan of
//! an interrupted attempt of this token (deleted); the key the last rotation replaced (deleted
//! to make room when Inactive or unused since replaced); a key of an abandoned attempt of this
//! secret, named by one of its versions but never AWSCURRENT (deleted when Inactive or never
//! used, or used only by testSecret's STS check); or a key the secret does not know (deleted
//! only by the user tag `KeyRotationDeleteOtherKeys=true` or, to make room,
//! `UNMANAGED_KEY_ACTION=delete`). The secret's data (its value, versions and tags) only selects
//! candidates: a replaced or abandoned key is the secret's own only when the rotator created it
//! for this binding (the user tag `KeyRotationOwnKeys`) or the secret proved it holds its
//! secret access key; any other key is unknown, whatever the secret says of it.

use super::intent::Intent;
use crate::aws::iam::{AccessKey, LastUse};
use crate::rotation::config::UnmanagedKeyAction;
use std::collections::{HashMap, HashSet};

/// IAM allows two access keys per user.
pub const MAX_KEYS_PER_USER: usize = 2;

/// Why a key is to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Made by an interrupted attempt of this rotation and never stored in the secret.
    Orphan,
    /// The key replaced by an earlier rotation, already Inactive.
    ReplacedInactive,
    /// The key replaced by an earlier rotation, Active but not used since it was replaced.
    ReplacedUnused,
    /// Made by an abandoned attempt of this secret (named by a version, never AWSCURRENT) and
    /// not used since.
    Abandoned,
    /// The user carries `KeyRotationDeleteOtherKeys=true`, set by an IAM administrator.
    DeleteAll,
    /// A key the secret does not know, deleted because `UNMANAGED_KEY_ACTION=delete`.
    Unmanaged,
}

impl DeleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Orphan => "orphan of an interrupted attempt",
            DeleteReason::ReplacedInactive => "replaced key, inactive",
            DeleteReason::ReplacedUnused => "replaced key, not used since replaced",
            DeleteReason::Abandoned => "key of an abandoned attempt, not used",
            DeleteReason::DeleteAll => "user tag KeyRotationDeleteOtherKeys=true",
            DeleteReason::Unmanaged => "unmanaged key, UNMANAGED_KEY_ACTION=delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub key: String,
    pub reason: DeleteReason,
}

/// What makes a rotation stop without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Keys the secret does not know stand in the way.
    Unmanaged(Vec<String>),
    /// A key of this secret (the replaced one, or one of an abandoned attempt) is Active and
    /// was used after it stopped being current.
    InUse { key: String, last_used: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Proceed(Vec<Deletion>),
    /// Read which keys the versions of this secret name (ListSecretVersionIds), then decide
    /// again.
    NeedVersionKeys,
    /// Ask IAM when this key was last used, then decide again.
    NeedLastUsed(String),
    Block(Block),
}

/// Everything createSecret knows when it decides.
#[derive(Debug, Clone)]
pub struct RoomInput<'a> {
    pub keys: &'a [AccessKey],
    /// The AccessKeyId of AWSCURRENT, if it names one.
    pub current: Option<&'a str>,
    /// The PreviousAccessKeyId of AWSCURRENT: the key the last rotation replaced.
    pub previous: Option<&'a str>,
    /// When the current key was created (the moment the previous one was replaced).
    pub replaced_at: Option<i64>,
    /// The intent tag, if it was left by an attempt of this very token.
    pub own_intent: Option<&'a Intent>,
    /// The user tag `KeyRotationDeleteOtherKeys=true` (an IAM administrator's word).
    pub delete_all: bool,
    pub unmanaged: UnmanagedKeyAction,
    /// The key ids named by any version of this secret; `None` until read.
    pub version_keys: Option<&'a HashSet<String>>,
    /// GetAccessKeyLastUsed answers so far.
    pub last_used: &'a HashMap<String, LastUse>,
    /// The keys that are the secret's own: created by the rotator for this binding, or proved
    /// by the secret's signature. No other key is ever retired as replaced or abandoned.
    pub own: &'a HashSet<String>,
}

/// How a key of the user stands to this secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Replaced,
    Abandoned,
    Unknown,
}

pub fn plan_room(input: &RoomInput<'_>) -> Decision {
    let is_current = |k: &AccessKey| Some(k.id.as_str()) == input.current;
    let is_previous = |k: &AccessKey| Some(k.id.as_str()) == input.previous;
    let is_orphan = |k: &AccessKey| {
        input
            .own_intent
            .is_some_and(|intent| !is_current(k) && !is_previous(k) && intent.made(&k.id))
    };

    let mut deletions: Vec<Deletion> = input
        .keys
        .iter()
        .filter(|k| is_orphan(k))
        .map(|k| Deletion {
            key: k.id.clone(),
            reason: DeleteReason::Orphan,
        })
        .collect();
    let remaining: Vec<&AccessKey> = input.keys.iter().filter(|k| !is_orphan(k)).collect();
    // Every key but the current one, with its role.
    let others: Vec<&AccessKey> = remaining
        .iter()
        .copied()
        .filter(|k| !is_current(k))
        .collect();
    let own = |k: &AccessKey| input.own.contains(&k.id);
    if !input.delete_all
        && input.version_keys.is_none()
        && others.iter().any(|k| !is_previous(k) && own(k))
    {
        return Decision::NeedVersionKeys;
    }
    let role = |k: &AccessKey| {
        if !own(k) {
            Role::Unknown
        } else if is_previous(k) {
            Role::Replaced
        } else if input.version_keys.is_some_and(|v| v.contains(&k.id)) {
            Role::Abandoned
        } else {
            Role::Unknown
        }
    };

    // What is known to be deletable, and what stands in the way.
    let mut chosen: Vec<Deletion> = Vec::new();
    let mut in_use: Option<Block> = None;
    let mut unmanaged: Vec<String> = Vec::new();
    let must_free = (remaining.len() + 1).saturating_sub(MAX_KEYS_PER_USER);

    if input.delete_all {
        chosen.extend(others.iter().map(|k| Deletion {
            key: k.id.clone(),
            reason: DeleteReason::DeleteAll,
        }));
    } else {
        // Abandoned keys go whenever they are unused, room or not: they were never current.
        for k in others.iter().filter(|k| role(k) == Role::Abandoned) {
            match abandoned_verdict(k, input.last_used.get(&k.id)) {
                Verdict::Ask => return Decision::NeedLastUsed(k.id.clone()),
                Verdict::Delete => chosen.push(Deletion {
                    key: k.id.clone(),
                    reason: DeleteReason::Abandoned,
                }),
                Verdict::Used(at) => {
                    in_use.get_or_insert(Block::InUse {
                        key: k.id.clone(),
                        last_used: at,
                    });
                }
            }
        }
        // Then, only to make room: the replaced key, then unknown keys (Inactive first, oldest
        // first).
        let mut candidates: Vec<&AccessKey> = others
            .iter()
            .copied()
            .filter(|k| role(k) != Role::Abandoned)
            .collect();
        candidates.sort_by_key(|k| {
            (
                !is_previous(k),
                k.is_active(),
                k.created.unwrap_or(i64::MAX),
            )
        });
        for k in candidates {
            if chosen.len() >= must_free {
                break;
            }
            if role(k) == Role::Replaced {
                match replaced_verdict(k, input.last_used.get(&k.id), input.replaced_at) {
                    Verdict::Ask => return Decision::NeedLastUsed(k.id.clone()),
                    Verdict::Delete => chosen.push(Deletion {
                        key: k.id.clone(),
                        reason: if k.is_active() {
                            DeleteReason::ReplacedUnused
                        } else {
                            DeleteReason::ReplacedInactive
                        },
                    }),
                    Verdict::Used(at) => {
                        in_use = Some(Block::InUse {
                            key: k.id.clone(),
                            last_used: at,
                        })
                    }
                }
            } else if input.unmanaged == UnmanagedKeyAction::Delete {
                chosen.push(Deletion {
                    key: k.id.clone(),
                    reason: DeleteReason::Unmanaged,
                });
            } else {
                unmanaged.push(k.id.clone());
            }
        }
    }

    let freed = chosen.len();
    deletions.extend(chosen);
    if freed < must_free {
        if !unmanaged.is_empty() {
            return Decision::Block(Block::Unmanaged(unmanaged));
        }
        if let Some(block) = in_use {
            return Decision::Block(block);
        }
    }
    Decision::Proceed(deletions)
}

enum Verdict {
    Ask,
    Delete,
    /// Used at this time, after it stopped being current.
    Used(i64),
}

/// The replaced key goes when Inactive, or Active but not used since it was replaced.
fn replaced_verdict(k: &AccessKey, last: Option<&LastUse>, replaced_at: Option<i64>) -> Verdict {
    if !k.is_active() {
        return Verdict::Delete;
    }
    match last.map(|l| l.date) {
        None => Verdict::Ask,
        Some(None) => Verdict::Delete,
        Some(Some(used)) => match replaced_at {
            // IAM dates are whole seconds: a use in the second the replacing key was made
            // came before the switch, which follows its creation.
            Some(replaced) if used <= replaced => Verdict::Delete,
            _ => Verdict::Used(used),
        },
    }
}

/// A key of an abandoned attempt goes when Inactive, never used, or last used by STS (the
/// failed attempt's own testSecret signs GetCallerIdentity with it; no consumer reads a key
/// that was never AWSCURRENT).
fn abandoned_verdict(k: &AccessKey, last: Option<&LastUse>) -> Verdict {
    if !k.is_active() {
        return Verdict::Delete;
    }
    match last {
        None => Verdict::Ask,
        Some(LastUse { date: None, .. }) => Verdict::Delete,
        Some(LastUse {
            service: Some(s), ..
        }) if s == "sts" => Verdict::Delete,
        Some(LastUse { date: Some(at), .. }) => Verdict::Used(*at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, active: bool, created: i64) -> AccessKey {
        AccessKey {
            user: "alice".into(),
            id: id.into(),
            status: if active { "Active" } else { "Inactive" }.into(),
            created: Some(created),
        }
    }

    fn used(date: Option<i64>, service: &str) -> LastUse {
        LastUse {
            date,
            service: date.map(|_| service.to_owned()),
            region: None,
        }
    }

    /// The facts of one decision; `input()` borrows them.
    struct Case {
        keys: Vec<AccessKey>,
        intent: Option<Intent>,
        delete_all: bool,
        unmanaged: UnmanagedKeyAction,
        version_keys: Option<HashSet<String>>,
        last_used: HashMap<String, LastUse>,
        own: HashSet<String>,
    }

    impl Case {
        fn new(keys: &[AccessKey]) -> Self {
            Case {
                keys: keys.to_vec(),
                intent: None,
                delete_all: false,
                unmanaged: UnmanagedKeyAction::Fail,
                version_keys: Some(HashSet::new()),
                last_used: HashMap::new(),
                own: ["CUR", "PREV", "ABANDONED", "OTHER"]
                    .map(str::to_owned)
                    .into(),
            }
        }

        fn input(&self) -> RoomInput<'_> {
            RoomInput {
                keys: &self.keys,
                current: Some("CUR"),
                previous: Some("PREV"),
                replaced_at: Some(1_000),
                own_intent: self.intent.as_ref(),
                delete_all: self.delete_all,
                unmanaged: self.unmanaged,
                version_keys: self.version_keys.as_ref(),
                last_used: &self.last_used,
                own: &self.own,
            }
        }

        fn plan(&self) -> Decision {
            plan_room(&self.input())
        }

        fn deleted(&self) -> Vec<(String, DeleteReason)> {
            match self.plan() {
                Decision::Proceed(v) => v.into_iter().map(|d| (d.key, d.reason)).collect(),
                other => panic!("expected Proceed, got {other:?}"),
            }
        }
    }

    fn d(key: &str, reason: DeleteReason) -> (String, DeleteReason) {
        (key.to_owned(), reason)
    }

    #[test]
    fn a_free_slot_needs_no_deletion() {
        assert!(Case::new(&[key("CUR", true, 1_000)]).deleted().is_empty());
        assert!(Case::new(&[]).deleted().is_empty());
    }

    #[test]
    fn an_inactive_replaced_key_is_freed() {
        let c = Case::new(&[key("CUR", true, 1_000), key("PREV", false, 10)]);
        assert_eq!(c.deleted(), vec![d("PREV", DeleteReason::ReplacedInactive)]);
    }

    #[test]
    fn an_active_replaced_key_is_freed_only_if_unused_since_replacement() {
        let mut c = Case::new(&[key("CUR", true, 1_000), key("PREV", true, 10)]);
        assert_eq!(c.plan(), Decision::NeedLastUsed("PREV".into()));
        // A use in the second the replacing key was made (IAM dates are whole seconds) came
        // before the switch, which follows the creation.
        for (when, freed) in [
            (None, true),
            (Some(999), true),
            (Some(1_000), true),
            (Some(1_001), false),
        ] {
            c.last_used.insert("PREV".into(), used(when, "s3"));
            if freed {
                assert_eq!(c.deleted(), vec![d("PREV", DeleteReason::ReplacedUnused)]);
            } else {
                assert_eq!(
                    c.plan(),
                    Decision::Block(Block::InUse {
                        key: "PREV".into(),
                        last_used: 1_001
                    })
                );
            }
        }
    }

    #[test]
    fn the_replaced_key_is_kept_while_there_is_room() {
        let c = Case::new(&[key("PREV", false, 10)]);
        assert!(c.deleted().is_empty());
    }

    #[test]
    fn an_unknown_key_blocks_unless_told_otherwise() {
        let mut c = Case::new(&[key("CUR", true, 1_000), key("HUMAN", true, 500)]);
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["HUMAN".into()]))
        );
        c.unmanaged = UnmanagedKeyAction::Delete;
        assert_eq!(c.deleted(), vec![d("HUMAN", DeleteReason::Unmanaged)]);
        c.unmanaged = UnmanagedKeyAction::Fail;
        c.delete_all = true;
        assert_eq!(c.deleted(), vec![d("HUMAN", DeleteReason::DeleteAll)]);
    }

    #[test]
    fn versions_are_read_only_for_a_key_that_is_neither_current_nor_replaced() {
        let mut c = Case::new(&[key("CUR", true, 1_000), key("PREV", false, 10)]);
        c.version_keys = None;
        assert_eq!(c.deleted(), vec![d("PREV", DeleteReason::ReplacedInactive)]);
        let mut c = Case::new(&[key("CUR", true, 1_000), key("OTHER", false, 10)]);
        c.version_keys = None;
        assert_eq!(c.plan(), Decision::NeedVersionKeys);
        c.delete_all = true;
        assert_eq!(c.deleted(), vec![d("OTHER", DeleteReason::DeleteAll)]);
    }

    #[test]
    fn a_key_of_an_abandoned_attempt_is_deleted_when_unused_room_or_not() {
        for others in [vec![], vec![key("CUR", true, 1_000)]] {
            let mut keys = others.clone();
            keys.push(key("ABANDONED", true, 2_000));
            let mut c = Case::new(&keys);
            c.version_keys = Some(HashSet::from(["ABANDONED".to_owned()]));
            assert_eq!(c.plan(), Decision::NeedLastUsed("ABANDONED".into()));
            c.last_used.insert("ABANDONED".into(), used(None, ""));
            assert_eq!(c.deleted(), vec![d("ABANDONED", DeleteReason::Abandoned)]);
            // testSecret of the failed attempt signed STS calls with it.
            c.last_used
                .insert("ABANDONED".into(), used(Some(2_100), "sts"));
            assert_eq!(c.deleted(), vec![d("ABANDONED", DeleteReason::Abandoned)]);
            c.last_used
                .insert("ABANDONED".into(), used(Some(2_100), "s3"));
            if others.is_empty() {
                assert!(
                    c.deleted().is_empty(),
                    "a used key is kept while there is room"
                );
            } else {
                assert_eq!(
                    c.plan(),
                    Decision::Block(Block::InUse {
                        key: "ABANDONED".into(),
                        last_used: 2_100
                    })
                );
            }
        }
        let mut c = Case::new(&[key("CUR", true, 1_000), key("ABANDONED", false, 2_000)]);
        c.version_keys = Some(HashSet::from(["ABANDONED".to_owned()]));
        assert_eq!(c.deleted(), vec![d("ABANDONED", DeleteReason::Abandoned)]);
    }

    #[test]
    fn only_the_secrets_own_keys_are_retired_whatever_its_data_says() {
        // The secret's value names a key a person made as its previous key, or one of its
        // versions names it: without the rotator's record or a proof it stays unknown.
        let mut c = Case::new(&[key("CUR", true, 1_000), key("PREV", false, 10)]);
        c.own.remove("PREV");
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["PREV".into()]))
        );
        let mut c = Case::new(&[key("CUR", true, 1_000), key("BREAKGLASS", true, 10)]);
        c.version_keys = Some(HashSet::from(["BREAKGLASS".to_owned()]));
        c.last_used.insert("BREAKGLASS".into(), used(None, ""));
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["BREAKGLASS".into()]))
        );
        // With room nothing unknown is touched, and the versions are not even read.
        let mut c = Case::new(&[key("BREAKGLASS", true, 10)]);
        c.version_keys = None;
        assert!(c.deleted().is_empty());
    }

    #[test]
    fn delete_all_spares_only_the_current_key_even_with_room() {
        let mut c = Case::new(&[key("CUR", true, 1_000)]);
        c.delete_all = true;
        assert!(c.deleted().is_empty());
        let mut c = Case::new(&[key("PREV", true, 1), key("CUR", true, 1_000)]);
        c.delete_all = true;
        assert_eq!(c.deleted(), vec![d("PREV", DeleteReason::DeleteAll)]);
    }

    #[test]
    fn an_orphan_of_this_token_is_deleted_and_frees_its_slot() {
        let mut c = Case::new(&[key("CUR", true, 1_000), key("ORPHAN", true, 2_000)]);
        c.intent = Some(Intent::new("tok", 1_500, vec!["CUR".into()]));
        c.version_keys = None;
        assert_eq!(c.deleted(), vec![d("ORPHAN", DeleteReason::Orphan)]);
        // Without this token's intent the same key is someone else's and blocks.
        c.intent = None;
        c.version_keys = Some(HashSet::new());
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["ORPHAN".into()]))
        );
    }

    #[test]
    fn keys_listed_in_the_intent_are_not_orphans() {
        let mut c = Case::new(&[key("CUR", true, 1_000), key("HUMAN", true, 5)]);
        c.intent = Some(Intent::new(
            "tok",
            1_500,
            vec!["CUR".into(), "HUMAN".into()],
        ));
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["HUMAN".into()]))
        );
    }

    #[test]
    fn the_current_key_is_never_deleted() {
        let keys = [
            key("CUR", false, 1_000),
            key("PREV", true, 10),
            key("X", true, 5),
        ];
        for delete_all in [false, true] {
            for unmanaged in [UnmanagedKeyAction::Fail, UnmanagedKeyAction::Delete] {
                for last in [None, Some(5), Some(5_000)] {
                    for versions in [
                        HashSet::new(),
                        HashSet::from(["CUR".to_owned(), "X".to_owned()]),
                    ] {
                        let mut c = Case::new(&keys);
                        c.delete_all = delete_all;
                        c.unmanaged = unmanaged;
                        c.version_keys = Some(versions);
                        for k in ["PREV", "X"] {
                            c.last_used.insert(k.into(), used(last, "s3"));
                        }
                        if let Decision::Proceed(d) = c.plan() {
                            assert!(d.iter().all(|d| d.key != "CUR"));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_lost_current_key_frees_one_slot_from_the_most_disposable() {
        // AWSCURRENT names a key that no longer exists; the user has two others.
        let mut c = Case::new(&[key("A", true, 100), key("B", false, 200)]);
        c.unmanaged = UnmanagedKeyAction::Delete;
        assert_eq!(c.deleted(), vec![d("B", DeleteReason::Unmanaged)]);
        c.unmanaged = UnmanagedKeyAction::Fail;
        assert_eq!(
            c.plan(),
            Decision::Block(Block::Unmanaged(vec!["B".into(), "A".into()]))
        );
    }
}
