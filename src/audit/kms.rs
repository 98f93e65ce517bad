//! The KMS part of an audit: every key of a region (or the keys an event names), its verdict,
//! its exemption, and, with REMEDIATE, EnableKeyRotation where that makes it compliant.

use super::context::{Account, Ctx, NOT_AUDITED};
use super::events::KmsKeyRef;
use super::report::{Action, Finding, Kind, KmsDetail};
use super::verdict::kms::{
    current_material_since, judge_describe_failure, judge_kms, kms_class, last_on_demand_in_window,
    needs_rotation_history, replica_of, OnDemand, RotationLookup,
};
use super::verdict::usage::{key_use, KeyUse};
use super::verdict::{
    apply_exemption, ExemptionTags, Judgement, Verdict, EXEMPT_TAG, EXEMPT_UNTIL_TAG,
};
use crate::arn::Arn;
use crate::aws::kms::{KeyFacts, Kms, LastUsage};
use crate::time::rfc3339;
use futures::stream::{self, StreamExt};
use std::collections::BTreeMap;
use tracing::{info, warn};

impl Ctx<'_> {
    pub(super) async fn kms_region(&self, account: &Account, region: &str) -> Vec<Finding> {
        let kms = &self.aws(account, region).kms;
        let keys = match kms.list_keys().await {
            Ok(keys) => keys,
            Err(e) => {
                return vec![Finding::scope_error(
                    "kms:ListKeys",
                    account.id.as_deref(),
                    Some(region),
                    format!(
                        "KMS keys of the region cannot be listed; none was audited ({})",
                        e.code_or_message()
                    ),
                    e.code.as_deref(),
                )]
            }
        };
        info!(
            account = account.label(),
            region,
            keys = keys.len(),
            "auditing KMS keys"
        );
        stream::iter(keys)
            .map(|k| async move {
                self.kms_key(account, region, Scope::Region, kms, &k.id)
                    .await
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await
    }

    /// The keys an event names (ids, ARNs or aliases), in their regions (the home region when
    /// the event names none).
    pub(super) async fn kms_keys(&self, account: &Account, keys: &[KmsKeyRef]) -> Vec<Finding> {
        let home = &self.regions[0];
        let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for k in keys {
            let region = k.region.as_deref().unwrap_or(home);
            let list = by_region.entry(region).or_default();
            if !list.contains(&k.key.as_str()) {
                list.push(&k.key);
            }
        }
        let per_region = by_region.into_iter().map(|(region, keys)| async move {
            let aws = self.aws(account, region);
            // An event may name a region the audit does not cover: the key is reported, never
            // acted on.
            let scope = if account.regions.iter().any(|r| r == region) {
                Scope::Named
            } else {
                Scope::OutsideRegions
            };
            stream::iter(keys)
                .map(|k| self.kms_key(account, region, scope, &aws.kms, k))
                .buffer_unordered(self.config().concurrency)
                .collect::<Vec<_>>()
                .await
        });
        futures::future::join_all(per_region)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The finding for one key (an id, ARN or alias). Remediation only when the region is one
    /// of `AUDIT_REGIONS`.
    pub(super) async fn kms_key(
        &self,
        account: &Account,
        region: &str,
        scope: Scope,
        kms: &Kms,
        key: &str,
    ) -> Finding {
        let base = |resource: &str, j: &Judgement| Finding {
            account: account.id.clone(),
            region: Some(region.to_owned()),
            ..Finding::new(Kind::KmsKey, resource, j.verdict, j.reason.clone())
        };
        if self.out_of_time() {
            return Finding {
                kms: Some(KmsDetail {
                    key_id: key.rsplit('/').next().unwrap_or(key).to_owned(),
                    ..KmsDetail::default()
                }),
                ..base(key, &Judgement::error(NOT_AUDITED))
            };
        }
        let facts = match kms.describe_key(key).await {
            Ok(f) => f,
            Err(e) => {
                let j = judge_describe_failure(Some(e.code_or_message().as_str()));
                return Finding {
                    error_code: e.code.clone().filter(|_| j.verdict == Verdict::Error),
                    kms: Some(KmsDetail {
                        key_id: key.rsplit('/').next().unwrap_or(key).to_owned(),
                        ..KmsDetail::default()
                    }),
                    ..base(key, &j)
                };
            }
        };
        let in_scope = scope != Scope::OutsideRegions;
        // A replica is left to its primary only when this run judges the primary: every key of
        // the primary's region is audited (a scheduled audit, not an event naming one key).
        let class = kms_class(&facts, |primary| {
            scope == Scope::Region
                && Arn::parse(primary)
                    .and_then(|a| a.region_name())
                    .is_some_and(|r| account.regions.iter().any(|audited| audited == r))
        });
        let mut lookup = RotationLookup::NotQueried;
        let mut error_code = None;
        if class.needs_rotation_status() {
            lookup = match kms.rotation_status(&facts.key_id).await {
                Ok(status) => RotationLookup::Status {
                    status,
                    on_demand: OnDemand::NotChecked,
                },
                Err(e) => {
                    error_code = e.code.clone();
                    RotationLookup::Failed {
                        code: Some(e.code_or_message()),
                    }
                }
            };
        }
        if class.needs_key_material() {
            lookup = match kms.rotations(&facts.key_id, true).await {
                Ok(materials) => RotationLookup::Material {
                    since: current_material_since(&facts, &materials),
                },
                Err(e) => {
                    error_code = e.code.clone();
                    RotationLookup::Failed {
                        code: Some(e.code_or_message()),
                    }
                }
            };
        }
        if needs_rotation_history(&class, &lookup) {
            let found = match kms.rotations(&facts.key_id, false).await {
                Ok(r) => last_on_demand_in_window(&r, &self.kms_policy),
                Err(e) => OnDemand::Unknown(e.code_or_message()),
            };
            if let RotationLookup::Status { on_demand, .. } = &mut lookup {
                *on_demand = found;
            }
        }
        let mut j = judge_kms(&facts, &class, &lookup, &self.kms_policy);
        let mut exemption = None;
        // Exemptions are looked up only where they change something: a failing key. One not
        // honoured (no valid expiry) leaves the verdict, and remediation, as they were.
        if j.verdict == Verdict::NonCompliant {
            let tags = [EXEMPT_TAG, EXEMPT_UNTIL_TAG];
            match kms.tag_values(&facts.key_id, &tags).await {
                Ok(values) => {
                    let tags = ExemptionTags {
                        reason: values[0].clone(),
                        until: values[1].clone(),
                    };
                    if let Some(e) =
                        apply_exemption(j.verdict, &j.reason, &tags, self.kms_policy.now)
                    {
                        j = Judgement {
                            remediable: j.remediable && e.exemption.is_none(),
                            verdict: e.verdict,
                            reason: e.reason,
                        };
                        exemption = e.exemption;
                    }
                }
                Err(e) => j
                    .reason
                    .push_str(&format!("; exemption unknown ({})", e.code_or_message())),
            }
        }
        let usage = self.kms_last_usage(kms, &facts).await;
        if let Some(line) = &usage.judged.line {
            j.reason.push_str("; ");
            j.reason.push_str(line);
        }
        let (status, on_demand) = match &lookup {
            RotationLookup::Status { status, on_demand } => (Some(status), Some(on_demand)),
            _ => (None, None),
        };
        let material_since = match &lookup {
            RotationLookup::Material { since } => *since,
            _ => None,
        };
        let mut finding = Finding {
            error_code: error_code.filter(|_| j.verdict == Verdict::Error),
            kms: Some(KmsDetail {
                remediable: j.remediable,
                key_id: facts.key_id.clone(),
                key_manager: facts.key_manager.clone(),
                key_spec: facts.key_spec.clone(),
                origin: facts.origin.clone(),
                key_state: facts.key_state.clone(),
                rotation_enabled: status.map(|s| s.enabled),
                rotation_period_days: status.and_then(|s| s.period_days),
                next_rotation_date: status.and_then(|s| s.next_rotation).map(rfc3339),
                last_on_demand_rotation: match on_demand {
                    Some(OnDemand::At(t)) => Some(rfc3339(*t)),
                    _ => None,
                },
                on_demand_rotation_started: status.and_then(|s| s.on_demand_started).map(rfc3339),
                primary_key_arn: replica_of(&facts).flatten().map(str::to_owned),
                current_key_material_id: facts.current_key_material_id.clone(),
                key_material_since: material_since.map(rfc3339),
                key_material_expires: facts.valid_to.map(rfc3339),
                last_used: usage.answer.as_ref().and_then(|u| u.last_used).map(rfc3339),
                last_used_operation: usage.answer.as_ref().and_then(|u| u.operation.clone()),
                last_use_tracked_since: usage
                    .answer
                    .as_ref()
                    .and_then(|u| u.tracking_start)
                    .map(rfc3339),
                last_use_tracked_apart_from_primary: usage
                    .answer
                    .as_ref()
                    .and(replica_of(&facts))
                    .map(|_| true),
                unused_since: usage.judged.unused_since_tracking.map(rfc3339),
                unused_days: usage.judged.unused_for_days,
                last_use_unknown: usage.unknown,
            }),
            exemption,
            ..base(&facts.arn, &j)
        };
        if self.config().remediate && j.remediable && !in_scope {
            finding.reason.push_str(&format!(
                "; not remediated: {region} is not one of the audited regions (AUDIT_REGIONS)"
            ));
        } else if self.config().remediate && j.remediable && !self.out_of_time() {
            let days = self.config().remediate_rotation_days;
            warn!(account = account.label(), region, key_id = %facts.key_id,
                  previous_rotation_enabled = ?status.map(|s| s.enabled),
                  previous_period_days = ?status.and_then(|s| s.period_days),
                  days, "enabling key rotation");
            let result = kms.enable_rotation(&facts.key_id, days).await;
            finding.action = Some(match result {
                Ok(()) => Action {
                    action: "EnableKeyRotation",
                    succeeded: true,
                    detail: format!("rotation enabled every {days} days"),
                },
                Err(e) => {
                    warn!(account = account.label(), region, key_id = %facts.key_id, error = %e,
                          "key rotation could not be enabled");
                    Action {
                        action: "EnableKeyRotation",
                        succeeded: false,
                        detail: e.code_or_message(),
                    }
                }
            });
        }
        finding
    }
}

/// A customer-managed key's last use: GetKeyLastUsage's answer, judged, or why it is unknown.
#[derive(Debug, Default)]
struct Usage {
    answer: Option<LastUsage>,
    judged: KeyUse,
    unknown: Option<String>,
}

impl Ctx<'_> {
    /// GetKeyLastUsage for a customer-managed key (AWS-managed keys are not asked). A refused or
    /// failed call never fails the key's finding: its last use is reported unknown, with why
    /// (local emulators such as moto do not implement the call).
    async fn kms_last_usage(&self, kms: &Kms, facts: &KeyFacts) -> Usage {
        if facts.key_manager.as_deref() != Some("CUSTOMER") || self.out_of_time() {
            return Usage::default();
        }
        match kms.last_usage(&facts.key_id).await {
            Ok(u) => Usage {
                // A multi-Region key's use is recorded per Region, the primary's apart from its
                // replicas': one Region's silence says nothing of the key material's use, so its
                // last use is reported and not judged (no LOW, no "consider disabling it").
                judged: if facts.multi_region.is_some() {
                    KeyUse::default()
                } else {
                    key_use(
                        &u,
                        facts.key_state.as_deref() == Some("Enabled"),
                        self.config().kms_unused_days,
                        self.kms_policy.now,
                    )
                },
                answer: Some(u),
                unknown: None,
            },
            Err(e) => {
                info!(key_id = %facts.key_id, error = %e, "last use of the key unknown");
                Usage {
                    unknown: Some(format!("GetKeyLastUsage failed: {}", e.code_or_message())),
                    ..Usage::default()
                }
            }
        }
    }
}

/// Which keys of a region an audit covers, for one key's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Every key of one of `AUDIT_REGIONS` (a scheduled audit).
    Region,
    /// Keys an event names, in one of `AUDIT_REGIONS`.
    Named,
    /// Keys an event names outside `AUDIT_REGIONS`: reported, never acted on.
    OutsideRegions,
}
