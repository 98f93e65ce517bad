//! Pure decisions of createSecret: which of the user's keys to delete to make room for the new
//! one, and the intent record that lets a retry recognise a key its own interrupted attempt made.

use crate::aws::iam::AccessKeyInfo;
use crate::config::UnmanagedKeyAction;

/// IAM allows two access keys per user.
pub const MAX_KEYS_PER_USER: usize = 2;

/// The user tags that record an attempt's intent before CreateAccessKey: the rotation token, and
/// the ids of the keys the user had then (joined by `.`, which no key id contains). Written in
/// one TagUser call, cleared after PutSecretValue.
pub const INTENT_TOKEN_TAG: &str = "KeyRotationIntentToken";
pub const INTENT_KEYS_TAG: &str = "KeyRotationIntentKeys";
/// IAM does not accept empty tag values.
const NO_KEYS: &str = "none";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub token: String,
    pub keys_before: Vec<String>,
}

impl Intent {
    /// The (key, value) pairs of the user tags.
    pub fn to_tags(&self) -> [(&'static str, String); 2] {
        let keys = if self.keys_before.is_empty() {
            NO_KEYS.to_owned()
        } else {
            self.keys_before.join(".")
        };
        [
            (INTENT_TOKEN_TAG, self.token.clone()),
            (INTENT_KEYS_TAG, keys),
        ]
    }

    /// Reads the intent back from the user's tags; `None` unless both are there.
    pub fn from_tags<'a>(mut tag: impl FnMut(&str) -> Option<&'a str>) -> Option<Intent> {
        let token = tag(INTENT_TOKEN_TAG)?.to_owned();
        let keys = tag(INTENT_KEYS_TAG)?;
        Some(Intent {
            token,
            keys_before: keys
                .split('.')
                .filter(|k| !k.is_empty() && *k != NO_KEYS)
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// Why a key is to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Made by an interrupted attempt of this rotation and never stored in the secret.
    Orphan,
    /// The key replaced by an earlier rotation, already Inactive.
    ReplacedInactive,
    /// The key replaced by an earlier rotation, Active but not used since it was replaced.
    ReplacedUnused,
    /// `DeleteAllKeysBeforeRotating` is set in the secret.
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
            DeleteReason::DeleteAll => "DeleteAllKeysBeforeRotating",
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
    /// The replaced key is Active and was used after its replacement was created.
    PreviousInUse { key: String, last_used: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Proceed(Vec<Deletion>),
    /// Ask IAM when this (replaced, still Active) key was last used, then decide again.
    NeedLastUsed(String),
    Block(Block),
}

/// Everything createSecret knows when it decides.
#[derive(Debug, Clone)]
pub struct RoomInput<'a> {
    pub keys: &'a [AccessKeyInfo],
    /// The AccessKeyId of AWSCURRENT, if it names one.
    pub current: Option<&'a str>,
    /// The PreviousAccessKeyId of AWSCURRENT: the key the last rotation replaced.
    pub previous: Option<&'a str>,
    /// When the current key was created (the moment the previous one was replaced).
    pub replaced_at: Option<i64>,
    /// The intent tag, if it was left by an attempt of this very token.
    pub own_intent: Option<&'a Intent>,
    pub delete_all: bool,
    pub unmanaged: UnmanagedKeyAction,
    /// GetAccessKeyLastUsed of the previous key, once asked: `Some(None)` = never used.
    pub previous_last_used: Option<Option<i64>>,
}

pub fn plan_room(input: &RoomInput<'_>) -> Decision {
    let is_current = |k: &AccessKeyInfo| Some(k.id.as_str()) == input.current;
    let is_previous = |k: &AccessKeyInfo| Some(k.id.as_str()) == input.previous;
    let is_orphan = |k: &AccessKeyInfo| {
        input.own_intent.is_some_and(|intent| {
            !is_current(k) && !is_previous(k) && !intent.keys_before.contains(&k.id)
        })
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
    let remaining: Vec<&AccessKeyInfo> = input.keys.iter().filter(|k| !is_orphan(k)).collect();

    if input.delete_all {
        deletions.extend(
            remaining
                .iter()
                .filter(|k| !is_current(k))
                .map(|k| Deletion {
                    key: k.id.clone(),
                    reason: DeleteReason::DeleteAll,
                }),
        );
        return Decision::Proceed(deletions);
    }

    let must_free = (remaining.len() + 1).saturating_sub(MAX_KEYS_PER_USER);
    if must_free == 0 {
        return Decision::Proceed(deletions);
    }

    // Candidates, most disposable first: the replaced key, then unknown Inactive keys, then
    // unknown Active keys, oldest first. The current key is never a candidate.
    let mut candidates: Vec<&AccessKeyInfo> = remaining
        .iter()
        .copied()
        .filter(|k| !is_current(k))
        .collect();
    candidates.sort_by_key(|k| (!is_previous(k), k.active, k.created.unwrap_or(i64::MAX)));

    let mut freed = 0;
    let mut unmanaged = Vec::new();
    let mut in_use = None;
    for key in candidates {
        if freed == must_free {
            break;
        }
        let reason = if is_previous(key) {
            if !key.active {
                Some(DeleteReason::ReplacedInactive)
            } else {
                match input.previous_last_used {
                    None => return Decision::NeedLastUsed(key.id.clone()),
                    Some(None) => Some(DeleteReason::ReplacedUnused),
                    Some(Some(used)) => match input.replaced_at {
                        Some(replaced) if used < replaced => Some(DeleteReason::ReplacedUnused),
                        _ => {
                            in_use = Some(Block::PreviousInUse {
                                key: key.id.clone(),
                                last_used: used,
                            });
                            None
                        }
                    },
                }
            }
        } else if input.unmanaged == UnmanagedKeyAction::Delete {
            Some(DeleteReason::Unmanaged)
        } else {
            unmanaged.push(key.id.clone());
            None
        };
        if let Some(reason) = reason {
            deletions.push(Deletion {
                key: key.id.clone(),
                reason,
            });
            freed += 1;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, active: bool, created: i64) -> AccessKeyInfo {
        AccessKeyInfo {
            id: id.into(),
            active,
            created: Some(created),
        }
    }

    fn input<'a>(keys: &'a [AccessKeyInfo]) -> RoomInput<'a> {
        RoomInput {
            keys,
            current: Some("CUR"),
            previous: Some("PREV"),
            replaced_at: Some(1_000),
            own_intent: None,
            delete_all: false,
            unmanaged: UnmanagedKeyAction::Fail,
            previous_last_used: None,
        }
    }

    fn deleted(d: Decision) -> Vec<(String, DeleteReason)> {
        match d {
            Decision::Proceed(v) => v.into_iter().map(|d| (d.key, d.reason)).collect(),
            other => panic!("expected Proceed, got {other:?}"),
        }
    }

    fn round_trip(i: &Intent) -> Option<Intent> {
        let tags = i.to_tags();
        Intent::from_tags(|k| tags.iter().find(|(t, _)| *t == k).map(|(_, v)| v.as_str()))
    }

    #[test]
    fn intent_round_trips() {
        let i = Intent {
            token: "tok-1".into(),
            keys_before: vec!["AKIA1".into(), "AKIA2".into()],
        };
        assert_eq!(round_trip(&i), Some(i));
        let none = Intent {
            token: "tok-2".into(),
            keys_before: vec![],
        };
        assert_eq!(none.to_tags()[1].1, "none");
        assert_eq!(round_trip(&none), Some(none));
        assert_eq!(
            Intent::from_tags(|k| (k == INTENT_TOKEN_TAG).then_some("t")),
            None
        );
    }

    #[test]
    fn a_free_slot_needs_no_deletion() {
        let keys = [key("CUR", true, 1_000)];
        assert!(deleted(plan_room(&input(&keys))).is_empty());
        assert!(deleted(plan_room(&input(&[]))).is_empty());
    }

    #[test]
    fn an_inactive_replaced_key_is_freed() {
        let keys = [key("CUR", true, 1_000), key("PREV", false, 10)];
        assert_eq!(
            deleted(plan_room(&input(&keys))),
            vec![("PREV".into(), DeleteReason::ReplacedInactive)]
        );
    }

    #[test]
    fn an_active_replaced_key_is_freed_only_if_unused_since_replacement() {
        let keys = [key("CUR", true, 1_000), key("PREV", true, 10)];
        let mut i = input(&keys);
        assert_eq!(plan_room(&i), Decision::NeedLastUsed("PREV".into()));
        i.previous_last_used = Some(None);
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("PREV".into(), DeleteReason::ReplacedUnused)]
        );
        i.previous_last_used = Some(Some(999));
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("PREV".into(), DeleteReason::ReplacedUnused)]
        );
        i.previous_last_used = Some(Some(1_001));
        assert_eq!(
            plan_room(&i),
            Decision::Block(Block::PreviousInUse {
                key: "PREV".into(),
                last_used: 1_001
            })
        );
    }

    #[test]
    fn an_unknown_key_blocks_unless_told_otherwise() {
        let keys = [key("CUR", true, 1_000), key("HUMAN", true, 500)];
        let mut i = input(&keys);
        assert_eq!(
            plan_room(&i),
            Decision::Block(Block::Unmanaged(vec!["HUMAN".into()]))
        );
        i.unmanaged = UnmanagedKeyAction::Delete;
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("HUMAN".into(), DeleteReason::Unmanaged)]
        );
        i.unmanaged = UnmanagedKeyAction::Fail;
        i.delete_all = true;
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("HUMAN".into(), DeleteReason::DeleteAll)]
        );
    }

    #[test]
    fn delete_all_spares_only_the_current_key_even_with_room() {
        let keys = [key("CUR", true, 1_000)];
        let mut i = input(&keys);
        i.delete_all = true;
        assert!(deleted(plan_room(&i)).is_empty());
        let keys = [key("PREV", true, 1), key("CUR", true, 1_000)];
        let mut i = input(&keys);
        i.delete_all = true;
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("PREV".into(), DeleteReason::DeleteAll)]
        );
    }

    #[test]
    fn an_orphan_of_this_token_is_deleted_and_frees_its_slot() {
        let intent = Intent {
            token: "tok".into(),
            keys_before: vec!["CUR".into()],
        };
        let keys = [key("CUR", true, 1_000), key("ORPHAN", true, 2_000)];
        let mut i = input(&keys);
        i.own_intent = Some(&intent);
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("ORPHAN".into(), DeleteReason::Orphan)]
        );
        // Without this token's intent the same key is someone else's and blocks.
        i.own_intent = None;
        assert_eq!(
            plan_room(&i),
            Decision::Block(Block::Unmanaged(vec!["ORPHAN".into()]))
        );
    }

    #[test]
    fn keys_listed_in_the_intent_are_not_orphans() {
        let intent = Intent {
            token: "tok".into(),
            keys_before: vec!["CUR".into(), "HUMAN".into()],
        };
        let keys = [key("CUR", true, 1_000), key("HUMAN", true, 5)];
        let mut i = input(&keys);
        i.own_intent = Some(&intent);
        assert_eq!(
            plan_room(&i),
            Decision::Block(Block::Unmanaged(vec!["HUMAN".into()]))
        );
    }

    #[test]
    fn the_current_key_is_never_deleted() {
        let keys = [key("CUR", false, 1_000), key("PREV", true, 10)];
        for delete_all in [false, true] {
            for unmanaged in [UnmanagedKeyAction::Fail, UnmanagedKeyAction::Delete] {
                for last in [None, Some(None), Some(Some(5)), Some(Some(5_000))] {
                    let mut i = input(&keys);
                    i.delete_all = delete_all;
                    i.unmanaged = unmanaged;
                    i.previous_last_used = last;
                    if let Decision::Proceed(d) = plan_room(&i) {
                        assert!(d.iter().all(|d| d.key != "CUR"));
                    }
                }
            }
        }
    }

    #[test]
    fn a_lost_current_key_frees_one_slot_from_the_most_disposable() {
        // AWSCURRENT names a key that no longer exists; the user has two others.
        let keys = [key("A", true, 100), key("B", false, 200)];
        let mut i = input(&keys);
        i.unmanaged = UnmanagedKeyAction::Delete;
        assert_eq!(
            deleted(plan_room(&i)),
            vec![("B".into(), DeleteReason::Unmanaged)]
        );
        i.unmanaged = UnmanagedKeyAction::Fail;
        assert_eq!(
            plan_room(&i),
            Decision::Block(Block::Unmanaged(vec!["B".into(), "A".into()]))
        );
    }
}
