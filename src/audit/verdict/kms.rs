//! The KMS verdict: [`kms_class`] decides from DescribeKey alone whether a key can rotate at
//! all (and so whether GetKeyRotationStatus or, for imported material, ListKeyRotations is
//! called); [`judge_kms`] gives the verdict once that answer, if needed, is known.

use super::{Judgement, Verdict, DAY};
use crate::aws::kms::{KeyFacts, MultiRegion, Rotation, RotationStatus};
use crate::time::rfc3339;

/// What a key is, from DescribeKey alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClass {
    /// Customer managed, SYMMETRIC_DEFAULT, origin AWS_KMS, not a replica, Enabled: can rotate.
    Eligible,
    /// As [`KeyClass::Eligible`] but Disabled: the saved rotation setting is reported.
    Disabled,
    AwsManaged,
    /// A multi-Region replica whose primary (named) this run judges.
    Replica {
        primary_arn: String,
    },
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    CustomKeyStore {
        origin: String,
    },
    /// Origin `EXTERNAL`, SYMMETRIC_DEFAULT, Enabled: rotated on demand with new material only.
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

    /// Whether ListKeyRotations with `IncludeKeyMaterial` is called: the age of the current
    /// material decides an imported key.
    pub fn needs_key_material(&self) -> bool {
        *self == KeyClass::Imported
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

/// The primary a multi-Region replica follows, `None` for any other key. A "replica" whose
/// primary is itself is the primary (moto reports a primary that way once it has been
/// replicated).
pub fn replica_of(f: &KeyFacts) -> Option<Option<&str>> {
    match &f.multi_region {
        Some(MultiRegion::Replica { primary_arn }) if primary_arn.as_deref() != Some(&f.arn) => {
            Some(primary_arn.as_deref())
        }
        _ => None,
    }
}

/// The class of a key. The order matters where a key fits several: who manages it, then
/// whether it follows a primary, then where its material lives, then its spec, then its state.
///
/// A replica shares its primary's rotation: it is judged once, on the primary, when
/// `primary_audited` says this run judges that primary; otherwise the replica is classed (and
/// judged) like a primary.
pub fn kms_class(f: &KeyFacts, primary_audited: impl Fn(&str) -> bool) -> KeyClass {
    match f.key_manager.as_deref() {
        Some("AWS") => return KeyClass::AwsManaged,
        Some(_) => {}
        None => return KeyClass::Incomplete("KeyManager"),
    }
    if let Some(Some(primary)) = replica_of(f) {
        if primary_audited(primary) {
            return KeyClass::Replica {
                primary_arn: primary.to_owned(),
            };
        }
    }
    let imported = match f.origin.as_deref() {
        Some("AWS_KMS") => false,
        Some("EXTERNAL") => true,
        Some(other) => {
            return KeyClass::CustomKeyStore {
                origin: other.to_owned(),
            }
        }
        None => return KeyClass::Incomplete("Origin"),
    };
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
        Some("Enabled") if imported => KeyClass::Imported,
        Some("Enabled") => KeyClass::Eligible,
        Some(state) if imported => KeyClass::State(state.to_owned()),
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

/// What GetKeyRotationStatus (and for rotation-off keys ListKeyRotations) gave, or for an
/// imported key ListKeyRotations with its key materials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationLookup {
    /// Not called: the class cannot rotate.
    NotQueried,
    Status {
        status: RotationStatus,
        on_demand: OnDemand,
    },
    /// Imported key: since when its current material is in use ([`current_material_since`]).
    Material {
        since: Option<i64>,
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
        .filter(|r| r.on_demand)
        .filter_map(|r| r.date)
        .filter(|d| *d >= since)
        .max()
        .map_or(OnDemand::NoneInWindow, OnDemand::At)
}

/// Since when an imported key's current material is in use: the rotation that made it current
/// (ListKeyRotations with `IncludeKeyMaterial`: the entry in state `CURRENT`, or the one of
/// DescribeKey's `CurrentKeyMaterialId`), or the key's creation when it was never rotated.
pub fn current_material_since(f: &KeyFacts, materials: &[Rotation]) -> Option<i64> {
    let current = materials
        .iter()
        .find(|m| m.key_material_state.as_deref() == Some("CURRENT"))
        .or_else(|| {
            let id = f.current_key_material_id.as_deref()?;
            materials
                .iter()
                .find(|m| m.key_material_id.as_deref() == Some(id))
        });
    current.and_then(|m| m.date).or(f.creation_date)
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
    let mut j = judge_class(f, class, lookup, policy);
    if let (Some(primary), false) = (replica_of(f), matches!(class, KeyClass::Replica { .. })) {
        // Judged here because its primary is not judged in this run. Rotation settings can
        // only be changed on the primary: nothing to remediate on the replica.
        j.reason.push_str(&format!(
            "; multi-Region replica of {}, which this audit does not cover: judged by the rotation it shares with it (change it on the primary)",
            primary.unwrap_or("an unreported primary")
        ));
        j.remediable = false;
    }
    j
}

fn judge_class(
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
            format!("multi-Region replica: follows its primary {primary_arn}, which is judged instead"),
        ),
        KeyClass::CustomKeyStore { origin } => Judgement::new(
            NotApplicable,
            format!("custom key store ({origin}): no automatic rotation"),
        ),
        KeyClass::Imported => judge_imported(f, lookup, policy),
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
            RotationLookup::NotQueried | RotationLookup::Material { .. } => {
                Judgement::new(Error, "rotation status was not read")
            }
        },
        KeyClass::Eligible => match lookup {
            RotationLookup::NotQueried | RotationLookup::Material { .. } => {
                Judgement::new(Error, "rotation status was not read")
            }
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

/// Imported material: KMS never rotates it by itself; the user imports new material and calls
/// RotateKeyOnDemand. The age of the material in use is what counts.
fn judge_imported(f: &KeyFacts, lookup: &RotationLookup, policy: &KmsPolicy) -> Judgement {
    let expiry = match (f.valid_to, f.expiration_model.as_deref()) {
        (Some(t), _) => format!("; key material expires {}", rfc3339(t)),
        (None, Some("KEY_MATERIAL_DOES_NOT_EXPIRE")) => "; key material does not expire".to_owned(),
        _ => String::new(),
    };
    let max = policy.max_rotation_days;
    match lookup {
        RotationLookup::Material { since: Some(since) } => {
            let days = (policy.now - since).div_euclid(DAY);
            let verdict = if days <= i64::from(max) { Verdict::Compliant } else { Verdict::NonCompliant };
            let judgement = match verdict {
                Verdict::Compliant => format!("within the {max}-day maximum"),
                _ => format!("over the {max}-day maximum: import new material and rotate on demand"),
            };
            Judgement::new(
                verdict,
                format!(
                    "imported key material (origin EXTERNAL): current material in use since {} ({days} days), {judgement}{expiry}",
                    rfc3339(*since)
                ),
            )
        }
        RotationLookup::Material { since: None } => Judgement::new(
            Verdict::Error,
            format!("imported key material (origin EXTERNAL): neither ListKeyRotations nor DescribeKey dates the current material{expiry}"),
        ),
        RotationLookup::Failed { code } => Judgement::new(
            Verdict::Error,
            format!("ListKeyRotations failed: {}", code_or_unknown(code)),
        ),
        RotationLookup::NotQueried | RotationLookup::Status { .. } => {
            Judgement::new(Verdict::Error, "key material was not read")
        }
    }
}

fn judge_rotation(status: &RotationStatus, on_demand: &OnDemand, policy: &KmsPolicy) -> Judgement {
    let mut j = judge_schedule(status, on_demand, policy);
    if let Some(started) = status.on_demand_started {
        j.reason.push_str(&format!(
            "; on-demand rotation in progress since {}",
            rfc3339(started)
        ));
    }
    j
}

fn judge_schedule(status: &RotationStatus, on_demand: &OnDemand, policy: &KmsPolicy) -> Judgement {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verdict::fixtures::NOW;

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
        // Its primary is in a region the table's audit does not cover (see `audited`).
        let lone_replica = KeyFacts {
            multi_region: Some(MultiRegion::Replica {
                primary_arn: Some("arn:aws:kms:eu-west-1:123456789012:key/mrk-1".into()),
            }),
            ..sym("Enabled")
        };
        let imported = key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled");
        let imported_expiring = KeyFacts {
            valid_to: Some(NOW + 30 * DAY),
            expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
            ..imported.clone()
        };
        let material = |days_ago: i64| RotationLookup::Material {
            since: Some(NOW - days_ago * DAY),
        };
        let rotating_on_demand = RotationLookup::Status {
            status: RotationStatus {
                enabled: true,
                period_days: Some(365),
                next_rotation: Some(NOW + DAY),
                on_demand_started: Some(NOW - 3600),
            },
            on_demand: OnDemand::NotChecked,
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
            Row { name: "on-demand rotation in progress is reported", facts: sym("Enabled"), lookup: rotating_on_demand, verdict: Compliant, remediable: false, reason: "next 2027-01-16T08:00:00Z; on-demand rotation in progress since 2027-01-15T07:00:00Z" },
            Row { name: "imported material, current material young enough, expiring", facts: imported_expiring, lookup: material(100), verdict: Compliant, remediable: false, reason: "current material in use since 2026-10-07T08:00:00Z (100 days), within the 365-day maximum; key material expires 2027-02-14T08:00:00Z" },
            Row { name: "imported material, at the maximum", facts: imported.clone(), lookup: material(365), verdict: Compliant, remediable: false, reason: "(365 days), within the 365-day maximum" },
            Row { name: "imported material, older than the maximum", facts: imported.clone(), lookup: material(366), verdict: NonCompliant, remediable: false, reason: "(366 days), over the 365-day maximum: import new material and rotate on demand" },
            Row { name: "imported material, never expires", facts: KeyFacts { expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()), ..imported.clone() }, lookup: material(10), verdict: Compliant, remediable: false, reason: "(10 days), within the 365-day maximum; key material does not expire" },
            Row { name: "imported material, age unknown", facts: imported.clone(), lookup: RotationLookup::Material { since: None }, verdict: Error, remediable: false, reason: "dates the current material" },
            Row { name: "imported material, ListKeyRotations denied", facts: imported.clone(), lookup: failed("AccessDeniedException"), verdict: Error, remediable: false, reason: "ListKeyRotations failed: AccessDeniedException" },
            Row { name: "imported material, not read", facts: imported, lookup: RotationLookup::NotQueried, verdict: Error, remediable: false, reason: "key material was not read" },
            Row { name: "imported, pending import", facts: key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "PendingImport"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state PendingImport" },
            Row { name: "imported, disabled", facts: key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Disabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "key state Disabled" },
            Row { name: "imported asymmetric material", facts: key("CUSTOMER", "RSA_2048", "EXTERNAL", "Enabled"), lookup: RotationLookup::NotQueried, verdict: NotApplicable, remediable: false, reason: "asymmetric key (RSA_2048)" },
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
            Row { name: "replica, primary not audited, rotation off", facts: lone_replica.clone(), lookup: status(false, None, None), verdict: NonCompliant, remediable: false, reason: "rotation disabled; multi-Region replica of arn:aws:kms:eu-west-1:123456789012:key/mrk-1, which this audit does not cover" },
            Row { name: "replica, primary not audited, rotation on", facts: lone_replica, lookup: status(true, Some(180), None), verdict: Compliant, remediable: false, reason: "rotation enabled every 180 days; multi-Region replica of" },
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

    /// The table's audit covers us-east-1 only.
    fn audited(primary: &str) -> bool {
        primary.contains(":us-east-1:")
    }

    #[test]
    fn kms_verdict_table() {
        let rows = rows();
        for row in &rows {
            let class = kms_class(&row.facts, audited);
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
                assert!(
                    matches!(class, KeyClass::Eligible | KeyClass::Imported),
                    "{}",
                    row.name
                );
            }
        }
        // Every verdict appears in the table (EXEMPT comes from a tag: exemption_table).
        for v in Verdict::ALL.into_iter().filter(|v| *v != Verdict::Exempt) {
            assert!(rows.iter().any(|r| r.verdict == v), "{v:?} untested");
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
                    multi_region: Some(MultiRegion::Replica {
                        primary_arn: Some("arn:aws:kms:us-east-1:123456789012:key/mrk-1".into()),
                    }),
                    ..sym("Enabled")
                },
                false,
            ),
            // A replica that does not name its primary cannot be left to it.
            (
                KeyFacts {
                    multi_region: Some(MultiRegion::Replica { primary_arn: None }),
                    ..sym("Enabled")
                },
                true,
            ),
        ];
        for (facts, expected) in cases {
            let class = kms_class(&facts, audited);
            assert_eq!(class.needs_rotation_status(), expected, "{facts:?}");
            // ListKeyRotations with IncludeKeyMaterial for imported material in use only.
            let imported = facts.origin.as_deref() == Some("EXTERNAL")
                && facts.key_spec.as_deref() == Some("SYMMETRIC_DEFAULT")
                && facts.key_state.as_deref() == Some("Enabled");
            assert_eq!(class.needs_key_material(), imported, "{facts:?}");
        }
        // A replica whose primary this audit does not judge is asked like a primary.
        let lone_replica = KeyFacts {
            multi_region: Some(MultiRegion::Replica {
                primary_arn: Some("arn:aws:kms:eu-west-1:123456789012:key/mrk-1".into()),
            }),
            ..sym("Enabled")
        };
        assert!(kms_class(&lone_replica, audited).needs_rotation_status());
        assert!(!kms_class(&lone_replica, |_| true).needs_rotation_status());
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
            date: Some(NOW - days_ago * DAY),
            on_demand,
            ..Rotation::default()
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
    fn the_current_material_is_dated_by_the_rotation_that_made_it_current() {
        let material = |id: &str, state: &str, date: Option<i64>| Rotation {
            date,
            key_material_id: Some(id.into()),
            key_material_state: Some(state.into()),
            import_state: Some("IMPORTED".into()),
            ..Rotation::default()
        };
        let facts = KeyFacts {
            creation_date: Some(NOW - 900 * DAY),
            current_key_material_id: Some("m2".into()),
            ..key("CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled")
        };
        let rotated = [
            material("m1", "NON_CURRENT", None),
            material("m2", "CURRENT", Some(NOW - 30 * DAY)),
            material("m3", "PENDING_ROTATION", None),
        ];
        assert_eq!(
            current_material_since(&facts, &rotated),
            Some(NOW - 30 * DAY)
        );
        // Without a material state, DescribeKey's CurrentKeyMaterialId names it.
        let unstated: Vec<Rotation> = rotated
            .iter()
            .map(|m| Rotation {
                key_material_state: None,
                ..m.clone()
            })
            .collect();
        assert_eq!(
            current_material_since(&facts, &unstated),
            Some(NOW - 30 * DAY)
        );
        // Never rotated: the first material, in use since the key was created.
        let first = [material("m1", "CURRENT", None)];
        assert_eq!(
            current_material_since(&facts, &first),
            Some(NOW - 900 * DAY)
        );
        assert_eq!(current_material_since(&facts, &[]), Some(NOW - 900 * DAY));
        let undated = KeyFacts {
            creation_date: None,
            ..facts
        };
        assert_eq!(current_material_since(&undated, &first), None);
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
}
