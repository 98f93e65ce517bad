//! Secrets Manager calls.

use crate::error::AwsError;
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
