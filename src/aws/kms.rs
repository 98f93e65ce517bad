//! KMS calls of the audit. Each returns plain data or an [`AwsError`]; every call goes through
//! the handle's [`Lane`] (the audit's concurrency limit and the per-operation pace).

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_kms::types::MultiRegionKeyType;
use aws_sdk_kms::Client;

/// A key as ListKeys names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub id: String,
    pub arn: Option<String>,
}

/// A multi-Region key's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiRegion {
    Primary,
    Replica { primary_arn: Option<String> },
}

/// What DescribeKey says about a key, as plain strings (the SDK's enum names).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyFacts {
    pub key_id: String,
    pub arn: String,
    pub account: Option<String>,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: Option<String>,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ...
    pub key_spec: Option<String>,
    /// `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, ...
    pub key_usage: Option<String>,
    /// `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: Option<String>,
    /// `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: Option<String>,
    pub multi_region: Option<MultiRegion>,
    /// When imported key material expires (seconds since the epoch).
    pub valid_to: Option<i64>,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE` (imported keys).
    pub expiration_model: Option<String>,
    pub deletion_date: Option<i64>,
    /// Seconds since the epoch.
    pub creation_date: Option<i64>,
    /// The key material in use (imported keys; every key since on-demand rotation of imported
    /// material).
    pub current_key_material_id: Option<String>,
}

/// What GetKeyRotationStatus says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RotationStatus {
    pub enabled: bool,
    pub period_days: Option<i32>,
    /// Seconds since the epoch.
    pub next_rotation: Option<i64>,
    /// An on-demand rotation in progress, since (seconds since the epoch).
    pub on_demand_started: Option<i64>,
}

/// One entry of ListKeyRotations: a completed rotation or, for imported keys asked with
/// `IncludeKeyMaterial`, one of the key's materials (the first has no rotation date).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rotation {
    /// When this material became current (seconds since the epoch).
    pub date: Option<i64>,
    pub on_demand: bool,
    pub key_material_id: Option<String>,
    /// `CURRENT`, `NON_CURRENT` or `PENDING_ROTATION`.
    pub key_material_state: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT`.
    pub import_state: Option<String>,
    pub valid_to: Option<i64>,
}

/// What GetKeyLastUsage says: the key's last successful cryptographic use since KMS began
/// tracking it (a multi-Region replica is tracked apart from its primary).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastUsage {
    /// Seconds since the epoch; `None`: no use recorded since `tracking_start`.
    pub last_used: Option<i64>,
    /// `Encrypt`, `Decrypt`, `GenerateDataKey`, ...
    pub operation: Option<String>,
    /// Since when KMS records the key's use (seconds since the epoch).
    pub tracking_start: Option<i64>,
    pub key_creation: Option<i64>,
}

/// A KMS client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Kms {
    client: Client,
    lane: Lane,
}

impl Kms {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRef>, AwsError> {
        let mut pages = self.client.list_keys().limit(1000).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = self.lane.next_page("kms:ListKeys", pages.next()).await {
            let page = page?;
            keys.extend(page.keys().iter().filter_map(|k| {
                Some(KeyRef {
                    id: k.key_id()?.to_owned(),
                    arn: k.key_arn().map(str::to_owned),
                })
            }));
        }
        Ok(keys)
    }

    /// DescribeKey of a key id, key ARN or alias.
    pub async fn describe_key(&self, key: &str) -> Result<KeyFacts, AwsError> {
        let out = self
            .lane
            .send(
                "kms:DescribeKey",
                self.client.describe_key().key_id(key).send(),
            )
            .await?;
        let Some(m) = out.key_metadata() else {
            return Ok(KeyFacts {
                key_id: key.to_owned(),
                arn: key.to_owned(),
                ..KeyFacts::default()
            });
        };
        let multi_region = match (m.multi_region(), m.multi_region_configuration()) {
            (Some(true), Some(c)) => Some(match c.multi_region_key_type() {
                Some(MultiRegionKeyType::Replica) => MultiRegion::Replica {
                    primary_arn: c.primary_key().and_then(|p| p.arn()).map(str::to_owned),
                },
                _ => MultiRegion::Primary,
            }),
            (Some(true), None) => Some(MultiRegion::Primary),
            _ => None,
        };
        Ok(KeyFacts {
            key_id: m.key_id().to_owned(),
            arn: m.arn().unwrap_or(m.key_id()).to_owned(),
            account: m.aws_account_id().map(str::to_owned),
            key_manager: m.key_manager().map(|v| v.as_str().to_owned()),
            key_spec: m.key_spec().map(|v| v.as_str().to_owned()),
            key_usage: m.key_usage().map(|v| v.as_str().to_owned()),
            origin: m.origin().map(|v| v.as_str().to_owned()),
            key_state: m.key_state().map(|v| v.as_str().to_owned()),
            multi_region,
            valid_to: m.valid_to().map(|d| d.secs()),
            expiration_model: m.expiration_model().map(|v| v.as_str().to_owned()),
            deletion_date: m.deletion_date().map(|d| d.secs()),
            creation_date: m.creation_date().map(|d| d.secs()),
            current_key_material_id: m.current_key_material_id().map(str::to_owned),
        })
    }

    pub async fn rotation_status(&self, key_id: &str) -> Result<RotationStatus, AwsError> {
        let out = self
            .lane
            .send(
                "kms:GetKeyRotationStatus",
                self.client.get_key_rotation_status().key_id(key_id).send(),
            )
            .await?;
        Ok(RotationStatus {
            enabled: out.key_rotation_enabled(),
            period_days: out.rotation_period_in_days(),
            next_rotation: out.next_rotation_date().map(|d| d.secs()),
            on_demand_started: out.on_demand_rotation_start_date().map(|d| d.secs()),
        })
    }

    /// Every completed rotation of the key (automatic and on demand); with `include_material`,
    /// every key material of an imported key, the current one and those awaiting import included.
    pub async fn rotations(
        &self,
        key_id: &str,
        include_material: bool,
    ) -> Result<Vec<Rotation>, AwsError> {
        let mut pages = self
            .client
            .list_key_rotations()
            .key_id(key_id)
            .set_include_key_material(
                include_material.then_some(aws_sdk_kms::types::IncludeKeyMaterial::AllKeyMaterial),
            )
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = self
            .lane
            .next_page("kms:ListKeyRotations", pages.next())
            .await
        {
            let page = page?;
            out.extend(page.rotations().iter().map(|r| Rotation {
                date: r.rotation_date().map(|d| d.secs()),
                on_demand: r.rotation_type() == Some(&aws_sdk_kms::types::RotationType::OnDemand),
                key_material_id: r.key_material_id().map(str::to_owned),
                key_material_state: r.key_material_state().map(|v| v.as_str().to_owned()),
                import_state: r.import_state().map(|v| v.as_str().to_owned()),
                valid_to: r.valid_to().map(|d| d.secs()),
            }));
        }
        Ok(out)
    }

    /// GetKeyLastUsage: the key's last cryptographic use and since when KMS tracks it.
    pub async fn last_usage(&self, key_id: &str) -> Result<LastUsage, AwsError> {
        let out = self
            .lane
            .send(
                "kms:GetKeyLastUsage",
                self.client.get_key_last_usage().key_id(key_id).send(),
            )
            .await?;
        let last = out.key_last_usage();
        Ok(LastUsage {
            last_used: last.and_then(|l| l.timestamp()).map(|d| d.secs()),
            operation: last
                .and_then(|l| l.operation())
                .map(|o| o.as_str().to_owned()),
            tracking_start: out.tracking_start_date().map(|d| d.secs()),
            key_creation: out.key_creation_date().map(|d| d.secs()),
        })
    }

    /// EnableKeyRotation with a rotation period (90-2560 days).
    pub async fn enable_rotation(&self, key_id: &str, period_days: u32) -> Result<(), AwsError> {
        self.lane
            .send(
                "kms:EnableKeyRotation",
                self.client
                    .enable_key_rotation()
                    .key_id(key_id)
                    .rotation_period_in_days(i32::try_from(period_days).unwrap_or(i32::MAX))
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// The values of the named tags of a key (ListResourceTags, paginated until each is found), in
    /// the order of `tags`; None for a tag the key does not carry.
    pub async fn tag_values(
        &self,
        key_id: &str,
        tags: &[&str],
    ) -> Result<Vec<Option<String>>, AwsError> {
        let mut values: Vec<Option<String>> = vec![None; tags.len()];
        let mut pages = self
            .client
            .list_resource_tags()
            .key_id(key_id)
            .into_paginator()
            .send();
        while let Some(page) = self
            .lane
            .next_page("kms:ListResourceTags", pages.next())
            .await
        {
            let page = page?;
            for t in page.tags() {
                if let Some(i) = tags.iter().position(|k| *k == t.tag_key()) {
                    values[i] = Some(t.tag_value().to_owned());
                }
            }
            if values.iter().all(Option::is_some) {
                break;
            }
        }
        Ok(values)
    }
}
