//! One finding: a resource (a KMS key, an access key, a secret) or a part of the audit that
//! failed, its verdict and reason, and what the audit did about it.

use super::controls::{controls, Controls};
use crate::audit::verdict::{Exemption, Verdict};
use serde::Serialize;

/// The region name used for IAM (a global service) and account-level findings.
pub const GLOBAL: &str = "global";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    #[serde(rename = "kms-key")]
    KmsKey,
    #[serde(rename = "iam-access-key")]
    IamAccessKey,
    /// A user an IAM event named that no longer exists.
    #[serde(rename = "iam-user")]
    IamUser,
    /// A Secrets Manager secret's rotation.
    #[serde(rename = "secret")]
    Secret,
    /// An account, region or service that could not be audited at all.
    #[serde(rename = "scope")]
    Scope,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::KmsKey => "kms-key",
            Kind::IamAccessKey => "iam-access-key",
            Kind::IamUser => "iam-user",
            Kind::Secret => "secret",
            Kind::Scope => "scope",
        }
    }
}

/// Details of a KMS key finding, as far as AWS gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KmsDetail {
    pub remediable: bool,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_on_demand_rotation: Option<String>,
    /// An on-demand rotation in progress (GetKeyRotationStatus), since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_started: Option<String>,
    /// A multi-Region replica's primary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key_arn: Option<String>,
    /// Imported key material: the material in use (DescribeKey's `CurrentKeyMaterialId`) and
    /// since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_since: Option<String>,
    /// When imported key material expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_expires: Option<String>,
    /// The last successful cryptographic use (GetKeyLastUsage) and its operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_operation: Option<String>,
    /// Since when KMS records the key's use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_use_tracked_since: Option<String>,
    /// A multi-Region replica: its use is tracked apart from its primary's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_use_tracked_apart_from_primary: Option<bool>,
    /// No use recorded since tracking began (or since creation, when later): since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused_since: Option<String>,
    /// Days without a recorded use, when at least `KMS_UNUSED_DAYS` (an enabled key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused_days: Option<i64>,
    /// Why the last use is unknown (GetKeyLastUsage refused or failed: the error code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_use_unknown: Option<String>,
}

/// Details of an IAM access-key finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IamDetail {
    pub user: String,
    /// The secret whose AWSCURRENT value is this key (looked up for old keys), else null.
    pub managed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
}

/// Something the audit changed (REMEDIATE, SWEEP), and whether it worked; or, with
/// `SWEEP=report`, what the sweep would have changed ([`WOULD_DEACTIVATE`], [`WOULD_DELETE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// `EnableKeyRotation`, `UpdateAccessKey`, `DeleteAccessKey`, or a `Would…` action.
    pub action: &'static str,
    pub succeeded: bool,
    pub detail: String,
}

/// The action `SWEEP=report` names where `SWEEP=true` would deactivate a replaced key.
pub const WOULD_DEACTIVATE: &str = "WouldUpdateAccessKey";
/// The action `SWEEP=report` names where `SWEEP=true` would delete a replaced key.
pub const WOULD_DELETE: &str = "WouldDeleteAccessKey";

impl Action {
    /// Whether the audit tried the change (not one `SWEEP=report` only describes, which is
    /// neither a success nor a failure).
    pub fn attempted(&self) -> bool {
        ![WOULD_DEACTIVATE, WOULD_DELETE].contains(&self.action)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub verdict: Verdict,
    pub reason: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsDetail>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamDetail>,
    /// The AWS error code behind an ERROR verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The honoured exemption of an EXEMPT finding: reason, last day, `expiring_soon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<Exemption>,
    /// The Security Hub control the finding corresponds to ([`controls`]); set by the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub_control: Option<&'static str>,
    /// The CIS AWS Foundations Benchmark requirements, version stated
    /// (`CIS AWS Foundations Benchmark v3.0.0/1.14`); set by the report.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub cis_requirements: &'static [&'static str],
}

impl Finding {
    pub fn new(
        kind: Kind,
        resource: impl Into<String>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            resource: resource.into(),
            account: None,
            region: None,
            verdict,
            reason: reason.into(),
            kms: None,
            iam: None,
            error_code: None,
            action: None,
            exemption: None,
            security_hub_control: None,
            cis_requirements: &[],
        }
    }

    /// The Security Hub control and CIS requirements of this finding, from its kind, verdict,
    /// reason and user.
    pub fn controls(&self) -> Option<Controls> {
        controls(self.kind, self.verdict, &self.reason, self.user())
    }

    /// Writes [`Finding::controls`] into the finding's fields.
    pub fn map_controls(&mut self) {
        let c = self.controls();
        self.security_hub_control = c.map(|c| c.security_hub);
        self.cis_requirements = c.map_or(&[], |c| c.cis);
    }

    /// An account, region or service the audit could not look at.
    pub fn scope_error(
        resource: impl Into<String>,
        account: Option<&str>,
        region: Option<&str>,
        reason: String,
        code: Option<&str>,
    ) -> Self {
        Self {
            account: account.map(str::to_owned),
            region: region.map(str::to_owned),
            error_code: code.map(str::to_owned),
            ..Self::new(Kind::Scope, resource, Verdict::Error, reason)
        }
    }

    /// The region the finding counts under in metrics and the summary table.
    pub fn metric_region(&self) -> &str {
        self.region.as_deref().unwrap_or(GLOBAL)
    }

    pub fn user(&self) -> Option<&str> {
        self.iam.as_ref().map(|d| d.user.as_str())
    }

    pub fn managed_by(&self) -> Option<&str> {
        self.iam.as_ref().and_then(|d| d.managed_by.as_deref())
    }

    /// A KMS key without a recorded use for `KMS_UNUSED_DAYS`.
    pub fn kms_unused(&self) -> bool {
        self.kms.as_ref().is_some_and(|d| d.unused_days.is_some())
    }

    /// A KMS key with no use recorded since KMS began tracking it.
    pub fn kms_unused_since_tracking(&self) -> bool {
        self.kms.as_ref().is_some_and(|d| d.unused_since.is_some())
    }

    pub fn remediable(&self) -> bool {
        self.kms.as_ref().is_some_and(|d| d.remediable)
    }
}
