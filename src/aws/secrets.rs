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
