//! Secrets Manager calls on one secret: its versions, stages, values and tags (the rotation).
//! The audit's ListSecrets facts are in [`super::secret_list`].

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

/// A Secrets Manager client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
    lane: Lane,
}

impl From<Client> for Secrets {
    fn from(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }
}

impl Secrets {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn lane(&self) -> &Lane {
        &self.lane
    }

    pub async fn describe(&self, secret_id: &str) -> Result<SecretMeta, AwsError> {
        let request = self.client.describe_secret().secret_id(secret_id).send();
        let out = self
            .lane
            .send("secretsmanager:DescribeSecret", request)
            .await?;
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
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<SecretValue>, AwsError> {
        let request = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_owned))
            .set_version_stage(stage.map(str::to_owned))
            .send();
        match self
            .lane
            .send("secretsmanager:GetSecretValue", request)
            .await
        {
            Ok(out) => Ok(Some(match out.secret_string() {
                Some(s) => SecretValue::Text(SecretString::from(s.to_owned())),
                None if out.secret_binary().is_some() => SecretValue::Binary,
                None => return Ok(None),
            })),
            Err(err) if err.code_is("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stores `value` as the AWSPENDING version `token`.
    pub async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &SecretString,
        rotation_token: Option<&SecretString>,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose_secret())
            .version_stages(AWSPENDING)
            .set_rotation_token(rotation_token.map(|t| t.expose_secret().to_owned()))
            .send();
        self.lane
            .send("secretsmanager:PutSecretValue", request)
            .await?;
        Ok(())
    }

    /// Moves AWSCURRENT from `from` (the current version, if any) to `to`.
    pub async fn move_current(
        &self,
        secret_id: &str,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_owned))
            .send();
        self.lane
            .send("secretsmanager:UpdateSecretVersionStage", request)
            .await?;
        Ok(())
    }

    /// Removes `stage` from `version` (UpdateSecretVersionStage).
    pub async fn remove_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .remove_from_version_id(version)
            .send();
        self.lane
            .send("secretsmanager:UpdateSecretVersionStage", request)
            .await?;
        Ok(())
    }

    /// Every version of the secret, deprecated ones (no stage) included: (version id, stages).
    pub async fn list_versions(
        &self,
        secret_id: &str,
    ) -> Result<Vec<(String, Vec<String>)>, AwsError> {
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret_id)
            .include_deprecated(true)
            .into_paginator()
            .send();
        let mut versions = Vec::new();
        while let Some(page) = self
            .lane
            .next_page("secretsmanager:ListSecretVersionIds", pages.next())
            .await
        {
            versions.extend(
                page?.versions().iter().filter_map(|v| {
                    Some((v.version_id()?.to_owned(), v.version_stages().to_vec()))
                }),
            );
        }
        Ok(versions)
    }

    /// Sets tags on the secret (TagResource).
    pub async fn tag(&self, secret_id: &str, tags: &[(&str, &str)]) -> Result<(), AwsError> {
        let request = self
            .client
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
            .send();
        self.lane
            .send("secretsmanager:TagResource", request)
            .await?;
        Ok(())
    }

    /// Removes tags from the secret (UntagResource).
    pub async fn untag(&self, secret_id: &str, keys: &[&str]) -> Result<(), AwsError> {
        let request = self
            .client
            .untag_resource()
            .secret_id(secret_id)
            .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
            .send();
        self.lane
            .send("secretsmanager:UntagResource", request)
            .await?;
        Ok(())
    }
}
