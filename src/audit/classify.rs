//! Verdicts as pure functions over plain data: no AWS call, no clock (the time is passed in).
//!
//! KMS: [`kms_class`] decides from DescribeKey alone whether a key can rotate at all (and so
//! whether GetKeyRotationStatus is called); [`judge_kms`] gives the verdict once the rotation
//! status, if needed, is known. IAM: [`judge_access_key`] by age; [`sweep_decision`] says whether
//! a replaced key may be deleted.

use crate::aws::iam_inventory::{AccessKeyRecord, LastUsed, SecretKeyRefs};
use crate::aws::kms::{KeyFacts, MultiRegion, Rotation, RotationStatus};
use crate::time::rfc3339;
use serde::Serialize;
use std::collections::HashMap;

pub const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Compliant,
    NonCompliant,
    NotApplicable,
    /// Would be non-compliant, but the resource carries the tag `KeyRotationExempt` (its value:
    /// the reason). Counted apart, never dropped.
    Exempt,
    Error,
}

/// The tag that exempts a KMS key or an IAM user from the audit's verdict; its value is the
/// reason.
pub const EXEMPT_TAG: &str = "KeyRotationExempt";

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Compliant,
        Verdict::NonCompliant,
        Verdict::NotApplicable,
        Verdict::Exempt,
        Verdict::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compliant => "COMPLIANT",
            Verdict::NonCompliant => "NON_COMPLIANT",
            Verdict::NotApplicable => "NOT_APPLICABLE",
            Verdict::Exempt => "EXEMPT",
            Verdict::Error => "ERROR",
        }
    }
}

/// A non-compliant verdict becomes EXEMPT when the resource's `KeyRotationExempt` tag gives a
/// reason (an empty value is no reason: the verdict stands).
pub fn apply_exemption(
    verdict: Verdict,
    reason: &str,
    exempt_tag: Option<&str>,
) -> Option<(Verdict, String)> {
    let why = exempt_tag.map(str::trim).filter(|t| !t.is_empty())?;
    (verdict == Verdict::NonCompliant).then(|| {
        (
            Verdict::Exempt,
            format!("exempt ({EXEMPT_TAG}): {why}; would be non-compliant: {reason}"),
        )
    })
}

/// A verdict, why, and whether the audit may fix it (EnableKeyRotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub remediable: bool,
}

impl Judgement {
    pub fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            remediable: false,
        }
    }

    /// An ERROR verdict (no AWS answer to judge).
    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Error, reason)
    }
}

// ---------------------------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------------------------

/// What a key is, from DescribeKey alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClass {
    /// Customer managed, SYMMETRIC_DEFAULT, origin AWS_KMS, not a replica, Enabled: can rotate.
    Eligible,
    /// As [`KeyClass::Eligible`] but Disabled: the saved rotation setting is reported.
    Disabled,
    AwsManaged,
    Replica {
        primary_arn: Option<String>,
    },
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    CustomKeyStore {
        origin: String,
    },
    /// Origin `EXTERNAL`.
    Imported,
    /// Asymmetric, HMAC or any other non-`SYMMETRIC_DEFAULT` spec.
    CannotRotate {
        spec: String,
        family: &'static str,
    },
    /// A state in which rotation does not apply (PendingDeletion, PendingImport, ...).
    State(String),
    /// DescribeKey left out a field the class depends on.
    Incomplete(&'static str),
}

impl KeyClass {
    /// Whether GetKeyRotationStatus is called: only where AWS allows it and it says something.
    pub fn needs_rotation_status(&self) -> bool {
        matches!(self, KeyClass::Eligible | KeyClass::Disabled)
    }
}

fn spec_family(spec: &str) -> &'static str {
    if spec.starts_with("HMAC_") {
        "HMAC"
    } else if spec.starts_with("RSA_") || spec.starts_with("ECC_") || spec.starts_with("SM2") {
        "asymmetric"
    } else if spec.starts_with("ML_DSA") || spec.starts_with("ML_KEM") {
        "post-quantum asymmetric"
    } else {
        "non-default"
    }
}

/// The class of a key. The order matters where a key fits several: who manages it, then where
/// its material lives, then its spec, then its state.
pub fn kms_class(f: &KeyFacts) -> KeyClass {
    match f.key_manager.as_deref() {
        Some("AWS") => return KeyClass::AwsManaged,
        Some(_) => {}
        None => return KeyClass::Incomplete("KeyManager"),
    }
    // A "replica" whose primary is itself is the primary (moto reports a primary that way once
    // it has been replicated).
    if let Some(MultiRegion::Replica { primary_arn }) = &f.multi_region {
        if primary_arn.as_deref() != Some(f.arn.as_str()) {
            return KeyClass::Replica {
                primary_arn: primary_arn.clone(),
            };
        }
    }
    match f.origin.as_deref() {
        Some("AWS_KMS") => {}
        Some("EXTERNAL") => return KeyClass::Imported,
        Some(other) => {
            return KeyClass::CustomKeyStore {
                origin: other.to_owned(),
            }
        }
        None => return KeyClass::Incomplete("Origin"),
    }
    match f.key_spec.as_deref() {
        Some("SYMMETRIC_DEFAULT") => {}
        Some(spec) => {
            return KeyClass::CannotRotate {
                spec: spec.to_owned(),
                family: spec_family(spec),
            }
        }
        None => return KeyClass::Incomplete("KeySpec"),
    }
    match f.key_state.as_deref() {
        Some("Enabled") => KeyClass::Eligible,
        Some("Disabled") => KeyClass::Disabled,
        Some(state) => KeyClass::State(state.to_owned()),
        None => KeyClass::Incomplete("KeyState"),
    }
}

/// On-demand rotations, as far as ListKeyRotations was asked (only for keys with rotation off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnDemand {
    NotChecked,
    /// None inside the window.
    NoneInWindow,
    /// The latest on-demand rotation inside the window.
    At(i64),
    /// ListKeyRotations failed (its error code).
    Unknown(String),
}

/// What GetKeyRotationStatus (and for rotation-off keys ListKeyRotations) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationLookup {
    /// Not called: the class cannot rotate.
    NotQueried,
    Status {
        status: RotationStatus,
        on_demand: OnDemand,
    },
    Failed {
        code: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KmsPolicy {
    pub max_rotation_days: u32,
    /// Seconds since the epoch.
    pub now: i64,
}

/// The latest on-demand rotation no older than the rotation window.
pub fn last_on_demand_in_window(rotations: &[Rotation], policy: &KmsPolicy) -> OnDemand {
    let since = policy.now - i64::from(policy.max_rotation_days) * DAY;
    rotations
        .iter()
        .filter(|r| r.on_demand && r.date >= since)
        .map(|r| r.date)
        .max()
        .map_or(OnDemand::NoneInWindow, OnDemand::At)
}

/// Whether ListKeyRotations is worth calling: only to explain a rotation-off key.
pub fn needs_rotation_history(class: &KeyClass, lookup: &RotationLookup) -> bool {
    *class == KeyClass::Eligible
        && matches!(lookup, RotationLookup::Status { status, .. } if !status.enabled)
}

fn code_or_unknown(code: &Option<String>) -> &str {
    code.as_deref().unwrap_or("no error code")
}

fn saved_setting(status: &RotationStatus) -> String {
    match (status.enabled, status.period_days) {
        (true, Some(p)) => format!("enabled every {p} days"),
        (true, None) => "enabled".to_owned(),
        (false, _) => "disabled".to_owned(),
    }
}

/// The verdict when DescribeKey itself failed.
pub fn judge_describe_failure(code: Option<&str>) -> Judgement {
    match code {
        Some("NotFoundException") => Judgement::new(Verdict::NotApplicable, "key no longer exists"),
        Some(c) => Judgement::new(Verdict::Error, format!("DescribeKey failed: {c}")),
        None => Judgement::new(Verdict::Error, "DescribeKey failed"),
    }
}

pub fn judge_kms(
    f: &KeyFacts,
    class: &KeyClass,
    lookup: &RotationLookup,
    policy: &KmsPolicy,
) -> Judgement {
    use Verdict::*;
    match class {
        KeyClass::AwsManaged => Judgement::new(NotApplicable, "AWS managed key: AWS rotates it every year"),
        KeyClass::Replica { primary_arn } => Judgement::new(
            NotApplicable,
            format!(
                "multi-Region replica: follows its primary {}, which is judged instead",
                primary_arn.as_deref().unwrap_or("(primary not reported)")
            ),
        ),
        KeyClass::CustomKeyStore { origin } => Judgement::new(
            NotApplicable,
            format!("custom key store ({origin}): no automatic rotation"),
        ),
        KeyClass::Imported => {
            let expiry = match (f.valid_to, f.expiration_model.as_deref()) {
                (Some(t), _) => format!("; key material expires {}", rfc3339(t)),
                (None, Some("KEY_MATERIAL_DOES_NOT_EXPIRE")) => "; key material does not expire".to_owned(),
                _ => String::new(),
            };
            Judgement::new(
                NotApplicable,
                format!(
                    "imported key material (origin EXTERNAL): no automatic rotation; rotate on demand with new material{expiry}"
                ),
            )
        }
        KeyClass::CannotRotate { spec, family } => {
            Judgement::new(NotApplicable, format!("{family} key ({spec}): KMS cannot rotate it"))
        }
        KeyClass::State(state) => {
            let when = match (state.as_str(), f.deletion_date) {
                ("PendingDeletion" | "PendingReplicaDeletion", Some(d)) => format!(", deletion on {}", rfc3339(d)),
                _ => String::new(),
            };
            Judgement::new(NotApplicable, format!("key state {state}{when}"))
        }
        KeyClass::Incomplete(field) => Judgement::new(Error, format!("DescribeKey answered without {field}")),
        KeyClass::Disabled => match lookup {
            RotationLookup::Status { status, .. } => Judgement::new(
                NotApplicable,
                format!(
                    "key state Disabled; saved rotation setting: {} (applies again when the key is enabled)",
                    saved_setting(status)
                ),
            ),
            RotationLookup::Failed { code }
                if matches!(code.as_deref(), Some("KMSInvalidStateException" | "UnsupportedOperationException")) =>
            {
                Judgement::new(
                    NotApplicable,
                    format!("key state Disabled; saved rotation setting unknown ({})", code_or_unknown(code)),
                )
            }
            RotationLookup::Failed { code } => {
                Judgement::new(Error, format!("GetKeyRotationStatus failed: {}", code_or_unknown(code)))
            }
            RotationLookup::NotQueried => Judgement::new(Error, "rotation status was not read"),
        },
        KeyClass::Eligible => match lookup {
            RotationLookup::NotQueried => Judgement::new(Error, "rotation status was not read"),
            RotationLookup::Failed { code } => match code.as_deref() {
                Some("UnsupportedOperationException") => Judgement::new(
                    Error,
                    "GetKeyRotationStatus answered UnsupportedOperationException for a key that looked eligible",
                ),
                Some("KMSInvalidStateException") => Judgement::new(
                    Error,
                    "GetKeyRotationStatus answered KMSInvalidStateException: the key changed state during the audit",
                ),
                _ => Judgement::new(Error, format!("GetKeyRotationStatus failed: {}", code_or_unknown(code))),
            },
            RotationLookup::Status { status, on_demand } => judge_rotation(status, on_demand, policy),
        },
    }
}

fn judge_rotation(status: &RotationStatus, on_demand: &OnDemand, policy: &KmsPolicy) -> Judgement {
    let max = policy.max_rotation_days;
    if !status.enabled {
        let history = match on_demand {
            OnDemand::At(t) => format!(
                "; rotated on demand {}, inside the {max}-day window",
                rfc3339(*t)
            ),
            OnDemand::Unknown(code) => format!("; rotation history unavailable ({code})"),
            OnDemand::NoneInWindow | OnDemand::NotChecked => String::new(),
        };
        return Judgement {
            verdict: Verdict::NonCompliant,
            reason: format!("rotation disabled{history}"),
            remediable: true,
        };
    }
    let too_long = status
        .period_days
        .filter(|p| i64::from(*p) > i64::from(max));
    let overdue = status.next_rotation.filter(|n| *n < policy.now);
    let mut problems = Vec::new();
    if let Some(p) = too_long {
        problems.push(format!(
            "rotation period {p} days exceeds the {max}-day maximum"
        ));
    }
    if let Some(n) = overdue {
        problems.push(format!(
            "rotation overdue: next rotation was due {}",
            rfc3339(n)
        ));
    }
    if !problems.is_empty() {
        return Judgement {
            verdict: Verdict::NonCompliant,
            reason: problems.join("; "),
            remediable: too_long.is_some(),
        };
    }
    let mut reason = match status.period_days {
        Some(p) => format!("rotation enabled every {p} days"),
        None => "rotation enabled (period not reported)".to_owned(),
    };
    if let Some(n) = status.next_rotation {
        reason.push_str(&format!(", next {}", rfc3339(n)));
    }
    Judgement::new(Verdict::Compliant, reason)
}

// ---------------------------------------------------------------------------------------------
// IAM
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IamPolicy {
    pub max_age_days: u32,
    pub now: i64,
}

/// What GetAccessKeyLastUsed gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastUse {
    Known(LastUsed),
    /// The call failed (its error code).
    Unknown(String),
}

/// The rotation secrets of an account, by the key ids their tags name.
#[derive(Debug, Clone, Default)]
pub struct SecretIndex {
    by_current: HashMap<String, SecretKeyRefs>,
    by_pending: HashMap<String, SecretKeyRefs>,
    by_previous: HashMap<String, Vec<SecretKeyRefs>>,
    /// Secrets whose keys are unknown (tagged as rotation secrets, no key-id tags yet).
    untracked: Vec<String>,
    /// Every audited region's secrets were listed.
    pub complete: bool,
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
            if let Some(k) = &r.previous_key {
                index
                    .by_previous
                    .entry(k.clone())
                    .or_default()
                    .push(r.clone());
            }
            if let Some(k) = &r.pending_key {
                index.by_pending.insert(k.clone(), r.clone());
            }
            if let Some(k) = &r.current_key {
                index.by_current.insert(k.clone(), r);
            }
        }
        index
    }

    /// The secret whose AWSCURRENT version holds this key.
    pub fn current_of(&self, key_id: &str) -> Option<&SecretKeyRefs> {
        self.by_current.get(key_id)
    }

    /// The secret whose AWSPENDING version holds this key (a rotation under way).
    pub fn pending_of(&self, key_id: &str) -> Option<&SecretKeyRefs> {
        self.by_pending.get(key_id)
    }

    /// The secrets that name this key as the one their current key replaced.
    pub fn previous_of(&self, key_id: &str) -> &[SecretKeyRefs] {
        self.by_previous.get(key_id).map_or(&[], Vec::as_slice)
    }
}

/// Whole days from `created` to `now` (never negative).
pub fn age_days(created: i64, now: i64) -> i64 {
    ((now - created) / DAY).max(0)
}

/// Whether an access key is old enough that the audit looks for the secret managing it.
pub fn is_old(key: &AccessKeyRecord, policy: &IamPolicy) -> bool {
    key.status == "Active"
        && key
            .created
            .is_some_and(|c| age_days(c, policy.now) >= i64::from(policy.max_age_days))
}

/// The verdict on one access key. `secrets` is consulted for the `managed_by` note (`None`:
/// not looked up, because the key is not old).
pub fn judge_access_key(
    key: &AccessKeyRecord,
    last_use: &LastUse,
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
        LastUse::Known(LastUsed { date: None, .. }) => reason.push_str("; never used"),
        LastUse::Known(LastUsed {
            date: Some(d),
            service,
            ..
        }) => {
            reason.push_str(&format!("; last used {}", rfc3339(*d)));
            if let Some(s) = service {
                reason.push_str(&format!(" ({s})"));
            }
        }
        LastUse::Unknown(code) => reason.push_str(&format!("; last use unknown ({code})")),
    }
    if let Some(index) = secrets {
        if let Some(s) = index.current_of(&key.id) {
            reason.push_str(&format!("; managed by secret {}", s.secret_arn));
        } else if let Some(s) = index.previous_of(&key.id).first() {
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

/// What the sweep does with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sweep {
    /// Not a replaced key of a rotation secret: the sweep leaves it alone, silently.
    NotReplaced,
    /// A replaced key that stays as it is, and why.
    Keep(String),
    /// The replaced key of one of these secrets (of the key's user): what happens to it is
    /// decided from IAM's facts read just before any change ([`sweep_decision`]).
    Check(Vec<SecretKeyRefs>),
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

/// The sweep's windows.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// `OLD_KEY_IDLE_HOURS`, in seconds.
    pub idle_secs: i64,
    pub grace_days: u32,
    pub now: i64,
}

/// First look, from the listing and the secrets' tags alone: an Active or Inactive key that a
/// rotation secret of its own user names as replaced, that no secret holds as AWSCURRENT or
/// AWSPENDING, with every secret of the account known.
pub fn sweep_candidate(key: &AccessKeyRecord, index: &SecretIndex) -> Sweep {
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
    if let Some(s) = index.current_of(&key.id) {
        // The current key of a secret is its own business; say so only when another secret
        // names it as replaced.
        return if replacing.is_empty() {
            Sweep::NotReplaced
        } else {
            Sweep::Keep(format!(
                "it is the AWSCURRENT key of secret {}",
                s.secret_arn
            ))
        };
    }
    if let Some(s) = index.pending_of(&key.id) {
        return Sweep::Keep(format!(
            "it is the AWSPENDING key of secret {}",
            s.secret_arn
        ));
    }
    if replacing.is_empty() {
        return Sweep::NotReplaced;
    }
    if !index.complete {
        return Sweep::Keep("not every region's secrets could be listed".to_owned());
    }
    if let Some(s) = index.untracked.first() {
        return Sweep::Keep(format!(
            "{} rotation secret(s) have no key-id tags yet (first {s}), so which keys they hold is unknown",
            index.untracked.len()
        ));
    }
    Sweep::Check(replacing)
}

/// What IAM says about a sweep candidate's user, read just before any change.
#[derive(Debug, Clone, Copy)]
pub struct SweepFacts<'a> {
    pub user_arn: &'a str,
    /// The user's `KeyRotationSecret` tag.
    pub binding: Option<&'a str>,
    /// The user's access keys (ListAccessKeys).
    pub keys: &'a [AccessKeyRecord],
    /// The candidate key's last use (GetAccessKeyLastUsed; `None`: never used).
    pub last_used: Option<i64>,
    /// When the sweep deactivated the candidate key, if it did (the user tag
    /// `KeyRotationDeactivated`, which only IAM administrators and the audit can write).
    pub deactivated_at: Option<i64>,
}

/// The final decision on a [`Sweep::Check`] candidate (`listed`: the key as the audit's listing
/// saw it). Nothing a secret writer controls decides it: the user must be bound to the replacing
/// secret, the key's status must not have changed since the listing, and every window counts
/// from IAM's dates (the replacing key's creation, the key's last use) or the sweep's own record
/// of a deactivation.
pub fn sweep_decision(
    listed: &AccessKeyRecord,
    replacing: &[SecretKeyRefs],
    facts: &SweepFacts<'_>,
    policy: &SweepPolicy,
) -> Sweep {
    let Some(secret) = replacing.iter().find(|s| {
        crate::binding::is_bound(
            facts.binding,
            facts.user_arn,
            crate::binding::SecretRef {
                arn: &s.secret_arn,
                name: &s.secret_name,
            },
        )
    }) else {
        return Sweep::Keep(format!(
            "the user is not bound to secret {} (IAM user tag {})",
            replacing[0].secret_arn,
            crate::binding::BINDING_TAG
        ));
    };
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

    const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z
    const POLICY: KmsPolicy = KmsPolicy {
        max_rotation_days: 365,
        now: NOW,
    };

    fn key(manager: &str, spec: &str, origin: &str, state: &str) -> KeyFacts {
        KeyFacts {
            key_id: "k".into(),
            arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            account: Some("123456789012".into()),
            key_manager: Some(manager.into()),
            key_spec: Some(spec.into()),
            key_usage: Some("ENCRYPT_DECRYPT".into()),
            origin: Some(origin.into()),
            key_state: Some(state.into()),
            ..KeyFacts::default()
        }
    }

    fn sym(state: &str) -> KeyFacts {
        key("CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_KMS", state)
    }

    fn status(enabled: bool, period: Option<i32>, next: Option<i64>) -> RotationLookup {
        RotationLookup::Status {
            status: RotationStatus {
                enabled,
                period_days: period,
                next_rotation: next,
                on_demand_started: None,
            },
            on_demand: OnDemand::NotChecked,
        }
    }

    fn failed(code: &str) -> RotationLookup {
        RotationLookup::Failed {
            code: Some(code.into()),
        }
    }

    /// One row: the key, what GetKeyRotationStatus gave, the expected verdict, remediable, and a
    /// piece of the reason.
    struct Row {
        name: &'static str,
        facts: KeyFacts,
        lookup: RotationLookup,
        verdict: Verdict,
        remediable: bool,
        reason: &'static str,
    }

    fn rows() -> Vec<Row> {
        use Verdict::*;
        let replica = KeyFacts {
            multi_region: Some(MultiRegion::Replica {
                primary_arn: Some("arn:aws:kms:us-east-1:123456789012:key/mrk-1".into()),
            }),
            ..sym("Enabled")
        };
        let primary = KeyFacts {
            multi_region: Some(MultiRegion::Primary),
            ..sym("Enabled")
        };
        let self_replica = KeyFacts {
            multi_region: Some(MultiRegion::Replica {
                primary_arn: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()),
            }),
            ..sym("Enabled")
        };
        let imported_expiring = KeyFacts {
            valid_to: Some(NOW + 30 * DAY),
            expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
            ..key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled")
        };
        let pending_deletion = KeyFacts {
            deletion_date: Some(NOW + 7 * DAY),
            ..sym("PendingDeletion")
        };
        let no_spec = KeyFacts {
            key_spec: None,
            ..sym("Enabled")
        };
        let no_manager = KeyFacts {
            key_manager: None,
            ..sym("Enabled")
        };
        let rotated_on_demand = RotationLookup::Status {
            status: RotationStatus::default(),
            on_demand: OnDemand::At(NOW - 10 * DAY),
        };
        let history_failed = RotationLookup::Status {
            status: RotationStatus::default(),
            on_demand: OnDemand::Unknown("ThrottlingException".into()),
        };
        vec![
            Row { name: "rotation on, period at max, next in future", facts: sym("Enabled"), lookup: status(true, Some(365), Some(NOW + DAY)), verdict: Compliant, remediable: false, reason: "rotation enabled every 365 days, next 2027-01-16" },
            Row { name: "rotation on, short period", facts: sym("Enabled"), lookup: status(true, Some(90), None), verdict: Compliant, remediable: false, reason: "every 90 days" },
            Row { name: "rotation on, period not reported (moto)", facts: sym("Enabled"), lookup: status(true, None, None), verdict: Compliant, remediable: false, reason: "period not reported" },
            Row { name: "multi-Region primary is judged like any key", facts: primary, lookup: status(true, Some(180), None), verdict: Compliant, remediable: false, reason: "180 days" },
            Row { name: "a replica whose primary is itself is the primary", facts: self_replica, lookup: status(false, None, None), verdict: NonCompliant, remediable: true, reason: "rotation disabled" },
            Row { name: "rotation off", facts: sym("Enabled"), lookup: status(false, None, None), verdict: NonCompliant, remediable: true, reason: "rotation disabled" },
            Row { name: "rotation off, rotated on demand inside the window", facts: sym("Enabled"), lookup: rotated_on_demand, verdict: NonCompliant, remediable: true, reason: "rotated on demand 2027-01-05T08:00:00Z, inside the 365-day window" },
            Row { name: "rotation off, history unavailable", facts: sym("Enabled"), lookup: history_failed, verdict: NonCompliant, remediable: true, reason: "history unavailable (ThrottlingException)" },
            Row { name: "period over the max", facts: sym("Enabled"), lookup: status(true, Some(730), Some(NOW + DAY)), verdict: NonCompliant, remediable: true, reason: "rotation period 730 days exceeds the 365-day maximum" },
            Row { name: "next rotation in the past", facts: sym("Enabled"), lookup: status(true, Some(365), Some(NOW - 1)), verdict: NonCompliant, remediable: false, reason: "rotation overdue: next rotation was due 2027-01-15T07:59:59Z" },
            Row { name: "both too long and overdue", facts: sym("Enabled"), lookup: status(true, Some(2560), Some(NOW - DAY)), verdict: NonCompliant, remediable: true, reason: "exceeds the 365-day maximum; rotation overdue" },
            Row { name: "AWS managed", facts: key("AWS", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "AWS rotates it every year" },
            Row { name: "AWS managed, even if pending deletion", facts: key("AWS", "SYMMETRIC_DEFAULT", "AWS_KMS", "PendingDeletion"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "AWS managed" },
            Row { name: "imported material, expiring", facts: imported_expiring, lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "no automatic rotation; rotate on demand with new material; key material expires 2027-02-14T08:00:00Z" },
            Row { name: "imported material, never expires", facts: KeyFacts { expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()), ..key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled") }, lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "does not expire" },
            Row { name: "imported, pending import", facts: key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "PendingImport"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "origin EXTERNAL" },
            Row { name: "CloudHSM key store", facts: key("CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_CLOUDHSM", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "custom key store (AWS_CLOUDHSM)" },
            Row { name: "external key store", facts: key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL_KEY_STORE", "Unavailable"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "custom key store (EXTERNAL_KEY_STORE)" },
            Row { name: "RSA", facts: key("CUSTOMER", "RSA_2048", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "asymmetric key (RSA_2048)" },
            Row { name: "ECC", facts: key("CUSTOMER", "ECC_NIST_P256", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "asymmetric key (ECC_NIST_P256)" },
            Row { name: "SM2", facts: key("CUSTOMER", "SM2", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "asymmetric key (SM2)" },
            Row { name: "ML-DSA", facts: key("CUSTOMER", "ML_DSA_65", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "post-quantum asymmetric key (ML_DSA_65)" },
            Row { name: "HMAC", facts: key("CUSTOMER", "HMAC_256", "AWS_KMS", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "HMAC key (HMAC_256)" },
            Row { name: "asymmetric and disabled: the spec wins", facts: key("CUSTOMER", "RSA_4096", "AWS_KMS", "Disabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "KMS cannot rotate it" },
            Row { name: "pending deletion", facts: pending_deletion, lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state PendingDeletion, deletion on 2027-01-22T08:00:00Z" },
            Row { name: "pending replica deletion", facts: sym("PendingReplicaDeletion"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state PendingReplicaDeletion" },
            Row { name: "pending import (AWS_KMS origin reported)", facts: sym("PendingImport"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state PendingImport" },
            Row { name: "unavailable", facts: sym("Unavailable"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state Unavailable" },
            Row { name: "updating", facts: sym("Updating"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state Updating" },
            Row { name: "creating", facts: sym("Creating"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state Creating" },
            Row { name: "disabled, rotation was on", facts: sym("Disabled"), lookup: status(true, Some(180), None), verdict: NotApplicable, remediable: false, reason: "key state Disabled; saved rotation setting: enabled every 180 days (applies again" },
            Row { name: "disabled, rotation was off", facts: sym("Disabled"), lookup: status(false, None, None), verdict: NotApplicable, remediable: false, reason: "saved rotation setting: disabled" },
            Row { name: "disabled, status refused for its state", facts: sym("Disabled"), lookup: failed("KMSInvalidStateException"), verdict: NotApplicable, remediable: false, reason: "saved rotation setting unknown (KMSInvalidStateException)" },
            Row { name: "disabled, status denied", facts: sym("Disabled"), lookup: failed("AccessDeniedException"), verdict: Error, remediable: false, reason: "GetKeyRotationStatus failed: AccessDeniedException" },
            Row { name: "replica", facts: replica, lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "follows its primary arn:aws:kms:us-east-1:123456789012:key/mrk-1" },
            Row { name: "eligible, status denied", facts: sym("Enabled"), lookup: failed("AccessDeniedException"), verdict: Error, remediable: false, reason: "GetKeyRotationStatus failed: AccessDeniedException" },
            Row { name: "eligible, throttled past retries", facts: sym("Enabled"), lookup: failed("ThrottlingException"), verdict: Error, remediable: false, reason: "ThrottlingException" },
            Row { name: "eligible, unsupported operation", facts: sym("Enabled"), lookup: failed("UnsupportedOperationException"), verdict: Error, remediable: false, reason: "for a key that looked eligible" },
            Row { name: "eligible, invalid state", facts: sym("Enabled"), lookup: failed("KMSInvalidStateException"), verdict: Error, remediable: false, reason: "changed state during the audit" },
            Row { name: "eligible, no error code", facts: sym("Enabled"), lookup: RotationLookup::Failed { code: None }, verdict: Error, remediable: false, reason: "no error code" },
            Row { name: "eligible, status never read", facts: sym("Enabled"), lookup: RotationLookup::NotQueried, verdict: Error, remediable: false, reason: "not read" },
            Row { name: "no KeySpec", facts: no_spec, lookup: RotationLookup::NotQueried, verdict: Error, remediable: false, reason: "without KeySpec" },
            Row { name: "no KeyManager", facts: no_manager, lookup: RotationLookup::NotQueried, verdict: Error, remediable: false, reason: "without KeyManager" },
        ]
    }

    #[test]
    fn kms_verdict_table() {
        let rows = rows();
        for row in &rows {
            let class = kms_class(&row.facts);
            let j = judge_kms(&row.facts, &class, &row.lookup, &POLICY);
            assert_eq!(j.verdict, row.verdict, "{}: {j:?}", row.name);
            assert_eq!(j.remediable, row.remediable, "{}: {j:?}", row.name);
            assert!(
                j.reason.contains(row.reason),
                "{}: {:?} lacks {:?}",
                row.name,
                j.reason,
                row.reason
            );
            // Only rotation-capable classes ever have a compliant or non-compliant verdict.
            if matches!(j.verdict, Verdict::Compliant | Verdict::NonCompliant) {
                assert_eq!(class, KeyClass::Eligible, "{}", row.name);
            }
        }
        // Every verdict appears in the table (EXEMPT comes from a tag: exemption_table).
        for v in Verdict::ALL.into_iter().filter(|v| *v != Verdict::Exempt) {
            assert!(rows.iter().any(|r| r.verdict == v), "{v:?} untested");
        }
    }

    #[test]
    fn exemption_table() {
        use Verdict::*;
        // A reason turns a failing verdict into EXEMPT, naming both.
        let (v, reason) = apply_exemption(
            NonCompliant,
            "rotation disabled",
            Some("HSM-backed, rotated by hand"),
        )
        .unwrap();
        assert_eq!(v, Exempt);
        assert!(
            reason.contains("HSM-backed, rotated by hand") && reason.contains("rotation disabled")
        );
        // No tag, an empty tag, or a verdict that is not a failure: unchanged.
        assert_eq!(apply_exemption(NonCompliant, "r", None), None);
        assert_eq!(apply_exemption(NonCompliant, "r", Some("  ")), None);
        for v in [Compliant, NotApplicable, Error] {
            assert_eq!(apply_exemption(v, "r", Some("why")), None, "{v:?}");
        }
    }

    #[test]
    fn rotation_status_is_asked_only_where_aws_answers_it() {
        let cases = [
            (sym("Enabled"), true),
            (sym("Disabled"), true),
            (sym("PendingDeletion"), false),
            (sym("PendingImport"), false),
            (key("AWS", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled"), false),
            (key("CUSTOMER", "RSA_2048", "AWS_KMS", "Enabled"), false),
            (key("CUSTOMER", "HMAC_512", "AWS_KMS", "Enabled"), false),
            (
                key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled"),
                false,
            ),
            (
                key("CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_CLOUDHSM", "Enabled"),
                false,
            ),
            (
                KeyFacts {
                    multi_region: Some(MultiRegion::Replica { primary_arn: None }),
                    ..sym("Enabled")
                },
                false,
            ),
        ];
        for (facts, expected) in cases {
            assert_eq!(
                kms_class(&facts).needs_rotation_status(),
                expected,
                "{facts:?}"
            );
        }
        let off = status(false, None, None);
        assert!(needs_rotation_history(&KeyClass::Eligible, &off));
        assert!(!needs_rotation_history(&KeyClass::Disabled, &off));
        assert!(!needs_rotation_history(
            &KeyClass::Eligible,
            &status(true, Some(365), None)
        ));
    }

    #[test]
    fn on_demand_rotations_count_only_inside_the_window() {
        let r = |days_ago: i64, on_demand: bool| Rotation {
            date: NOW - days_ago * DAY,
            on_demand,
        };
        assert_eq!(
            last_on_demand_in_window(&[], &POLICY),
            OnDemand::NoneInWindow
        );
        assert_eq!(
            last_on_demand_in_window(&[r(400, true), r(10, false)], &POLICY),
            OnDemand::NoneInWindow
        );
        assert_eq!(
            last_on_demand_in_window(&[r(300, true), r(20, true), r(400, true)], &POLICY),
            OnDemand::At(NOW - 20 * DAY)
        );
    }

    #[test]
    fn a_vanished_key_is_not_an_error() {
        assert_eq!(
            judge_describe_failure(Some("NotFoundException")).verdict,
            Verdict::NotApplicable
        );
        let denied = judge_describe_failure(Some("AccessDeniedException"));
        assert_eq!(denied.verdict, Verdict::Error);
        assert_eq!(denied.reason, "DescribeKey failed: AccessDeniedException");
        assert_eq!(judge_describe_failure(None).verdict, Verdict::Error);
    }

    // --- IAM ----------------------------------------------------------------------------------

    const IAM: IamPolicy = IamPolicy {
        max_age_days: 90,
        now: NOW,
    };

    fn access_key(id: &str, status: &str, age_days: Option<i64>) -> AccessKeyRecord {
        AccessKeyRecord {
            user: "alice".into(),
            id: id.into(),
            status: status.into(),
            created: age_days.map(|d| NOW - d * DAY - 60),
        }
    }

    fn used(days_ago: i64) -> LastUse {
        LastUse::Known(LastUsed {
            date: Some(NOW - days_ago * DAY),
            service: Some("s3".into()),
            region: Some("us-east-1".into()),
        })
    }

    fn never() -> LastUse {
        LastUse::Known(LastUsed::default())
    }

    fn secret(
        arn: &str,
        user: Option<&str>,
        current: Option<&str>,
        previous: Option<&str>,
    ) -> SecretKeyRefs {
        SecretKeyRefs {
            secret_arn: arn.into(),
            secret_name: arn.rsplit('/').next().unwrap_or(arn).into(),
            user: user.map(Into::into),
            current_key: current.map(Into::into),
            previous_key: previous.map(Into::into),
            pending_key: None,
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
            AccessKeyRecord,
            LastUse,
            Option<&'a SecretIndex>,
            Verdict,
            &'a str,
        );
        let rows: Vec<Row> = vec![
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
                LastUse::Unknown("AccessDenied".into()),
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
                // A second secret holds AKIADUAL as its current key, another replaced it.
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
        let k = |user: &str, id: &str, status: &str| AccessKeyRecord {
            user: user.into(),
            id: id.into(),
            status: status.into(),
            created: Some(NOW - 400 * DAY),
        };
        assert!(matches!(
            sweep_candidate(&k("alice", "AKIAOLD", "Inactive"), &index),
            Sweep::Check(s) if s.len() == 1 && s[0].secret_arn == "arn:sec/alice"
        ));
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
        // The AWSCURRENT or AWSPENDING key of any secret is never swept.
        assert!(matches!(
            sweep_candidate(&k("erin", "AKIADUAL", "Inactive"), &index),
            Sweep::Keep(r) if r.contains("AWSCURRENT key of secret arn:sec/dual-a")
        ));
        assert!(matches!(
            sweep_candidate(&k("pat", "AKIAP1", "Inactive"), &index),
            Sweep::Keep(r) if r.contains("AWSPENDING key of secret arn:sec/p")
        ));
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
        // An incomplete view of the secrets, or secrets whose keys are unknown: nothing goes.
        let alice = || {
            secret(
                "arn:sec/alice",
                Some("alice"),
                Some("AKIANEW"),
                Some("AKIAOLD"),
            )
        };
        let partial = SecretIndex::new([alice()], Vec::new(), false);
        assert!(matches!(
            sweep_candidate(&k("alice", "AKIAOLD", "Inactive"), &partial),
            Sweep::Keep(r) if r.contains("could be listed")
        ));
        let untracked = SecretIndex::new([alice()], vec!["arn:sec/legacy".into()], true);
        assert!(matches!(
            sweep_candidate(&k("alice", "AKIAOLD", "Inactive"), &untracked),
            Sweep::Keep(r) if r.contains("arn:sec/legacy")
        ));
    }

    #[test]
    fn sweep_decision_table() {
        const USER_ARN: &str = "arn:aws:iam::123456789012:user/alice";
        const SECRET_ARN: &str =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/alice-AbCdEf";
        const HOUR: i64 = 3600;
        let replacing = vec![SecretKeyRefs {
            secret_arn: SECRET_ARN.into(),
            secret_name: "ci/alice".into(),
            user: Some("alice".into()),
            current_key: Some("AKIANEW".into()),
            previous_key: Some("AKIAOLD".into()),
            pending_key: None,
        }];
        let key = |id: &str, status: &str, days_ago: i64| AccessKeyRecord {
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
        struct Case<'a> {
            binding: Option<&'a str>,
            listed: &'a str,
            now: &'a str,
            new_days_ago: i64,
            last_used: Option<i64>,
            deactivated_at: Option<i64>,
        }
        let base = Case {
            binding: Some(SECRET_ARN),
            listed: "Inactive",
            now: "Inactive",
            new_days_ago: 10,
            last_used: None,
            deactivated_at: None,
        };
        let decide = |c: Case, policy: &SweepPolicy| {
            let keys = [
                key("AKIAOLD", c.now, 400),
                key("AKIANEW", "Active", c.new_days_ago),
            ];
            sweep_decision(
                &key("AKIAOLD", c.listed, 400),
                &replacing,
                &SweepFacts {
                    user_arn: USER_ARN,
                    binding: c.binding,
                    keys: &keys,
                    last_used: c.last_used,
                    deactivated_at: c.deactivated_at,
                },
                policy,
            )
        };
        // Inactive, bound by ARN or by name, replaced 10 days ago, unused since: without the
        // sweep's record it counts as inactive from the end of its idle window (9 days).
        for binding in [SECRET_ARN, "ci/alice"] {
            assert_eq!(
                decide(
                    Case {
                        binding: Some(binding),
                        ..base
                    },
                    &policy
                ),
                Sweep::Delete {
                    secret_arn: SECRET_ARN.into(),
                    since: NOW - 10 * DAY + 24 * HOUR
                }
            );
        }
        // The sweep's record of the deactivation wins: deactivated 3 days ago, kept.
        assert!(matches!(
            decide(Case { deactivated_at: Some(NOW - 3 * DAY), ..base }, &policy),
            Sweep::Keep(r) if r.contains("inactive since 2027-01-12T08:00:00Z")
                && r.contains("inside the 7-day grace period")
        ));
        // Unbound, or bound to another secret: kept, whatever the tags say.
        let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ";
        for binding in [None, Some(""), Some(other)] {
            assert!(
                matches!(
                    decide(Case { binding, ..base }, &policy),
                    Sweep::Keep(r) if r.contains("not bound") && r.contains("KeyRotationSecret")
                ),
                "{binding:?}"
            );
        }
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
            decide(Case { ..active }, &policy),
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
                &replacing,
                &SweepFacts {
                    user_arn: USER_ARN,
                    binding: Some(SECRET_ARN),
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
