//! Secrets Manager calls: one secret's versions, stages and tags (the rotation), and every
//! secret's metadata from ListSecrets (the audit, which never reads a secret value).

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";

/// What DescribeSecret says about a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: Vec<(String, String)>,
}

impl SecretMeta {
    pub fn stages_of(&self, version: &str) -> Option<&[String]> {
        self.versions.get(version).map(Vec::as_slice)
    }

    /// The version that carries `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(v, _)| v.as_str())
    }
}

/// A stored secret value.
pub enum SecretValue {
    Text(SecretString),
    Binary,
}

pub async fn describe(client: &Client, secret_id: &str) -> Result<SecretMeta, AwsError> {
    let out = client
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:DescribeSecret", e))?;
    Ok(SecretMeta {
        arn: out.arn().unwrap_or(secret_id).to_owned(),
        name: out.name().unwrap_or_default().to_owned(),
        rotation_enabled: out.rotation_enabled().unwrap_or(false),
        versions: out
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        tags: out
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    })
}

/// The value of a version (by id, by stage or both); `None` when that version has no value.
pub async fn get_value(
    client: &Client,
    secret_id: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<Option<SecretValue>, AwsError> {
    let result = client
        .get_secret_value()
        .secret_id(secret_id)
        .set_version_id(version_id.map(str::to_owned))
        .set_version_stage(stage.map(str::to_owned))
        .send()
        .await;
    match result {
        Ok(out) => Ok(Some(match out.secret_string() {
            Some(s) => SecretValue::Text(SecretString::from(s.to_owned())),
            None if out.secret_binary().is_some() => SecretValue::Binary,
            None => return Ok(None),
        })),
        Err(e) => {
            let err = AwsError::from_sdk("secretsmanager:GetSecretValue", e);
            if err.code_is("ResourceNotFoundException") {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Stores `value` as the AWSPENDING version `token`.
pub async fn put_pending(
    client: &Client,
    secret_id: &str,
    token: &str,
    value: &SecretString,
    rotation_token: Option<&SecretString>,
) -> Result<(), AwsError> {
    client
        .put_secret_value()
        .secret_id(secret_id)
        .client_request_token(token)
        .secret_string(value.expose_secret())
        .version_stages(AWSPENDING)
        .set_rotation_token(rotation_token.map(|t| t.expose_secret().to_owned()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:PutSecretValue", e))?;
    Ok(())
}

/// Moves AWSCURRENT from `from` (the current version, if any) to `to`.
pub async fn move_current(
    client: &Client,
    secret_id: &str,
    to: &str,
    from: Option<&str>,
) -> Result<(), AwsError> {
    client
        .update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(AWSCURRENT)
        .move_to_version_id(to)
        .set_remove_from_version_id(from.map(str::to_owned))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:UpdateSecretVersionStage", e))?;
    Ok(())
}

/// Every version of the secret, deprecated ones (no stage) included: (version id, stages).
pub async fn list_versions(
    client: &Client,
    secret_id: &str,
) -> Result<Vec<(String, Vec<String>)>, AwsError> {
    let mut pages = client
        .list_secret_version_ids()
        .secret_id(secret_id)
        .include_deprecated(true)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::from_sdk("secretsmanager:ListSecretVersionIds", e))?;
        versions.extend(
            page.versions()
                .iter()
                .filter_map(|v| Some((v.version_id()?.to_owned(), v.version_stages().to_vec()))),
        );
    }
    Ok(versions)
}

/// Sets tags on the secret (TagResource).
pub async fn tag(client: &Client, secret_id: &str, tags: &[(&str, &str)]) -> Result<(), AwsError> {
    client
        .tag_resource()
        .secret_id(secret_id)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| {
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(*k)
                        .value(*v)
                        .build()
                })
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:TagResource", e))?;
    Ok(())
}

/// Removes tags from the secret (UntagResource).
pub async fn untag(client: &Client, secret_id: &str, keys: &[&str]) -> Result<(), AwsError> {
    client
        .untag_resource()
        .secret_id(secret_id)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:UntagResource", e))?;
    Ok(())
}

/// A secret whose tag `tag` records the access key `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub secret_arn: String,
    pub key: String,
    pub tag: String,
}

/// The secrets that record one of `keys` under one of `tag_keys` (ListSecrets filtered by tag
/// value, which AWS matches by prefix, so every answer is checked exactly).
pub async fn key_holders(
    client: &Client,
    keys: &[&str],
    tag_keys: &[&str],
) -> Result<Vec<KeyHolder>, AwsError> {
    let mut holders = Vec::new();
    // A ListSecrets filter takes at most 10 values.
    for chunk in keys.chunks(10) {
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagValue)
            .set_values(Some(chunk.iter().map(|k| (*k).to_owned()).collect()))
            .build();
        let mut pages = client
            .list_secrets()
            .filters(filter)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("secretsmanager:ListSecrets", e))?;
            for entry in page.secret_list() {
                let Some(arn) = entry.arn() else { continue };
                for t in entry.tags() {
                    let (Some(k), Some(v)) = (t.key(), t.value()) else {
                        continue;
                    };
                    if tag_keys.contains(&k) && chunk.contains(&v) {
                        holders.push(KeyHolder {
                            secret_arn: arn.to_owned(),
                            key: v.to_owned(),
                            tag: k.to_owned(),
                        });
                    }
                }
            }
        }
    }
    Ok(holders)
}

/// Removes `stage` from `version` (UpdateSecretVersionStage).
pub async fn remove_stage(
    client: &Client,
    secret_id: &str,
    stage: &str,
    version: &str,
) -> Result<(), AwsError> {
    client
        .update_secret_version_stage()
        .secret_id(secret_id)
        .version_stage(stage)
        .remove_from_version_id(version)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:UpdateSecretVersionStage", e))?;
    Ok(())
}

/// The tag the SAM template puts on rotation secrets.
pub const ROTATION_TYPE_TAG: &str = "RotationType";
pub const ROTATION_TYPE_VALUE: &str = "iam-access-key";

/// The key ids a rotation secret holds, as the rotator records them in the secret's tags.
/// Tags are hints (whoever may tag the secret can change them): a deletion made from them also
/// needs the user's binding to this very secret and IAM's own facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretKeyRefs {
    pub secret_arn: String,
    pub secret_name: String,
    pub user: Option<String>,
    pub current_key: Option<String>,
    pub previous_key: Option<String>,
    pub pending_key: Option<String>,
    /// When Secrets Manager last finished a rotation of the secret (ListSecrets'
    /// `LastRotatedDate`): the switch to its current key when the rotator's record is missing.
    pub last_rotated: Option<i64>,
}

/// What ListSecrets says about a secret (never its value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFacts {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    /// `RotationRules.AutomaticallyAfterDays`, or the days of a `rate()` schedule.
    pub every_days: Option<i64>,
    /// `RotationRules.ScheduleExpression`, as given.
    pub schedule: Option<String>,
    pub last_rotated: Option<i64>,
    pub next_rotation: Option<i64>,
    pub created: Option<i64>,
    /// Versions and their staging labels.
    pub stages: Vec<(String, Vec<String>)>,
    /// The key a rotation by this project stored as AWSPENDING (the secret tag
    /// `KeyRotationPendingAccessKeyId`), if any.
    pub pending_key: Option<String>,
}

impl SecretFacts {
    /// The version AWSPENDING is on when it is not AWSCURRENT as well: a rotation that stopped.
    pub fn stuck_version(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, s)| {
                s.iter().any(|l| l == "AWSPENDING") && !s.iter().any(|l| l == "AWSCURRENT")
            })
            .map(|(v, _)| v.as_str())
    }
}

/// The days between rotations a schedule expression means, when it is a `rate()` in days or
/// hours (a `cron()` has no fixed period: `None`).
pub fn schedule_days(expression: &str) -> Option<i64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: i64 = n.parse().ok()?;
    match unit.trim() {
        "day" | "days" => Some(n),
        "hour" | "hours" => Some((n + 23) / 24),
        _ => None,
    }
}

/// The rotation secrets of one region, read from ListSecrets alone (never a secret value): the
/// key ids the rotator records in each secret's tags ([`crate::binding`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionSecrets {
    pub refs: Vec<SecretKeyRefs>,
    /// Secrets tagged `RotationType=iam-access-key`, with rotation on, that carry no key-id tags
    /// yet (not rotated since the rotator began recording them): which keys they hold is unknown.
    pub untracked: Vec<String>,
    /// Every secret of the region, for its rotation verdict.
    pub all: Vec<SecretFacts>,
}

/// The key ids of a secret's tags; `None` when none is set.
pub fn key_refs_of_tags<'a>(
    secret_arn: &str,
    secret_name: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<SecretKeyRefs> {
    use crate::binding::{CURRENT_KEY_TAG, PENDING_KEY_TAG, PREVIOUS_KEY_TAG, USER_TAG};
    let mut refs = SecretKeyRefs {
        secret_arn: secret_arn.to_owned(),
        secret_name: secret_name.to_owned(),
        ..SecretKeyRefs::default()
    };
    for (key, value) in tags {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match key {
            CURRENT_KEY_TAG => &mut refs.current_key,
            PREVIOUS_KEY_TAG => &mut refs.previous_key,
            PENDING_KEY_TAG => &mut refs.pending_key,
            USER_TAG => &mut refs.user,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    let any_key =
        refs.current_key.is_some() || refs.previous_key.is_some() || refs.pending_key.is_some();
    any_key.then_some(refs)
}

fn secret_facts(s: &aws_sdk_secretsmanager::types::SecretListEntry, arn: &str) -> SecretFacts {
    let rules = s.rotation_rules();
    let schedule = rules
        .and_then(|r| r.schedule_expression())
        .map(str::to_owned);
    let mut stages: Vec<(String, Vec<String>)> = s
        .secret_versions_to_stages()
        .map(|m| m.iter().map(|(v, l)| (v.clone(), l.clone())).collect())
        .unwrap_or_default();
    stages.sort();
    SecretFacts {
        arn: arn.to_owned(),
        name: s.name().unwrap_or_default().to_owned(),
        rotation_enabled: s.rotation_enabled().unwrap_or(false),
        every_days: rules
            .and_then(|r| r.automatically_after_days())
            .or_else(|| schedule.as_deref().and_then(schedule_days)),
        schedule,
        last_rotated: s.last_rotated_date().map(|d| d.secs()),
        next_rotation: s.next_rotation_date().map(|d| d.secs()),
        created: s.created_date().map(|d| d.secs()),
        stages,
        pending_key: s
            .tags()
            .iter()
            .find(|t| t.key() == Some(crate::binding::PENDING_KEY_TAG))
            .and_then(|t| t.value())
            .map(str::to_owned),
    }
}

/// The rotation secrets of one region (ListSecrets, 100 per page).
pub async fn rotation_secrets(
    client: &aws_sdk_secretsmanager::Client,
    lane: &Lane,
) -> Result<RegionSecrets, AwsError> {
    let mut pages = client
        .list_secrets()
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = RegionSecrets::default();
    while let Some(page) = lane.page("secretsmanager:ListSecrets", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("secretsmanager:ListSecrets", e))?;
        for s in page.secret_list() {
            let Some(arn) = s.arn() else { continue };
            let tags = || {
                s.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
            };
            out.all.push(secret_facts(s, arn));
            match key_refs_of_tags(arn, s.name().unwrap_or_default(), tags()) {
                Some(refs) => out.refs.push(SecretKeyRefs {
                    last_rotated: s.last_rotated_date().map(|d| d.secs()),
                    ..refs
                }),
                None if s.rotation_enabled() == Some(true)
                    && tags().any(|(k, v)| k == ROTATION_TYPE_TAG && v == ROTATION_TYPE_VALUE) =>
                {
                    out.untracked.push(arn.to_owned());
                }
                None => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_key_ids_from_the_secret_tags() {
        let tags = [
            ("KeyRotationUserName", "alice"),
            ("KeyRotationAccessKeyId", "AKIACUR"),
            ("KeyRotationPreviousAccessKeyId", "AKIAOLD"),
            ("KeyRotationPendingAccessKeyId", " "),
            ("RotationType", "iam-access-key"),
        ];
        assert_eq!(
            key_refs_of_tags("arn:s", "s", tags),
            Some(SecretKeyRefs {
                secret_arn: "arn:s".into(),
                secret_name: "s".into(),
                user: Some("alice".into()),
                current_key: Some("AKIACUR".into()),
                previous_key: Some("AKIAOLD".into()),
                pending_key: None,
                last_rotated: None,
            })
        );
        // A user name alone names no key.
        assert_eq!(
            key_refs_of_tags("arn:s", "s", [("KeyRotationUserName", "alice")]),
            None
        );
        assert_eq!(key_refs_of_tags("arn:s", "s", [("Team", "x")]), None);
    }
}
