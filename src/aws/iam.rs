//! IAM calls on one user's access keys and tags.

use crate::error::AwsError;
use crate::secret::NewAccessKey;
use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::Client;
use secrecy::SecretString;

/// One access key as ListAccessKeys reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub id: String,
    pub active: bool,
    /// Seconds since the epoch.
    pub created: Option<i64>,
}

pub async fn list_keys(client: &Client, user: &str) -> Result<Vec<AccessKeyInfo>, AwsError> {
    let mut pages = client
        .list_access_keys()
        .user_name(user)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("iam:ListAccessKeys", e))?;
        keys.extend(page.access_key_metadata().iter().filter_map(|k| {
            Some(AccessKeyInfo {
                id: k.access_key_id()?.to_owned(),
                active: k.status() == Some(&StatusType::Active),
                created: k.create_date().map(|d| d.secs()),
            })
        }));
    }
    Ok(keys)
}

/// CreateAccessKey. It is not idempotent: a lost answer would make a second key on a retry,
/// so the SDK does not retry it; the step fails and the next attempt finds the orphan.
pub async fn create_key(client: &Client, user: &str) -> Result<NewAccessKey, AwsError> {
    let out = client
        .create_access_key()
        .user_name(user)
        .customize()
        .config_override(
            aws_sdk_iam::config::Config::builder()
                .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled()),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:CreateAccessKey", e))?;
    let key = out.access_key().ok_or_else(|| {
        AwsError::from_sdk::<aws_sdk_iam::operation::create_access_key::CreateAccessKeyError>(
            "iam:CreateAccessKey",
            aws_smithy_runtime_api::client::result::SdkError::construction_failure(
                "CreateAccessKey answered without a key",
            ),
        )
    })?;
    Ok(NewAccessKey {
        access_key_id: key.access_key_id().to_owned(),
        secret_access_key: SecretString::from(key.secret_access_key().to_owned()),
        create_date: key
            .create_date()
            .map(|d| d.secs())
            .unwrap_or_else(crate::time::now_secs),
    })
}

pub async fn set_active(
    client: &Client,
    user: &str,
    key: &str,
    active: bool,
) -> Result<(), AwsError> {
    client
        .update_access_key()
        .user_name(user)
        .access_key_id(key)
        .status(if active {
            StatusType::Active
        } else {
            StatusType::Inactive
        })
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:UpdateAccessKey", e))?;
    Ok(())
}

/// Deletes a key; `Ok(false)` when it was already gone.
pub async fn delete_key(client: &Client, user: &str, key: &str) -> Result<bool, AwsError> {
    match client
        .delete_access_key()
        .user_name(user)
        .access_key_id(key)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => {
            let err = AwsError::from_sdk("iam:DeleteAccessKey", e);
            if err.code_is("NoSuchEntity") {
                Ok(false)
            } else {
                Err(err)
            }
        }
    }
}

/// What GetAccessKeyLastUsed says of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastUse {
    /// Seconds since the epoch; `None` when the key was never used.
    pub date: Option<i64>,
    /// The service of the last use (`sts`, `s3`, ...).
    pub service: Option<String>,
    pub region: Option<String>,
}

/// When and where the key was last used.
pub async fn last_used(client: &Client, key: &str) -> Result<LastUse, AwsError> {
    let out = client
        .get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:GetAccessKeyLastUsed", e))?;
    let used = out.access_key_last_used();
    Ok(LastUse {
        date: used.and_then(|u| u.last_used_date()).map(|d| d.secs()),
        // IAM answers "N/A" for a key never used.
        service: used
            .map(|u| u.service_name())
            .filter(|s| !s.is_empty() && *s != "N/A")
            .map(str::to_owned),
        region: used
            .map(|u| u.region())
            .filter(|s| !s.is_empty() && *s != "N/A")
            .map(str::to_owned),
    })
}

/// An IAM user as GetUser reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user's name as IAM spells it (names are case-insensitive in IAM).
    pub name: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

impl UserInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// GetUser: the user's ARN and tags in one call.
pub async fn get_user(client: &Client, user: &str) -> Result<UserInfo, AwsError> {
    let out = client
        .get_user()
        .user_name(user)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:GetUser", e))?;
    let u = out.user().ok_or_else(|| {
        AwsError::from_sdk::<aws_sdk_iam::operation::get_user::GetUserError>(
            "iam:GetUser",
            aws_smithy_runtime_api::client::result::SdkError::construction_failure(
                "GetUser answered without a user",
            ),
        )
    })?;
    Ok(UserInfo {
        name: u.user_name().to_owned(),
        arn: u.arn().to_owned(),
        tags: u
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
    })
}

/// Sets several tags of the user in one call.
pub async fn tag_user(
    client: &Client,
    user: &str,
    tags: &[(&str, String)],
) -> Result<(), AwsError> {
    let mut request = client.tag_user().user_name(user);
    for (key, value) in tags {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key(*key)
            .value(value)
            .build()
            .map_err(|e| {
                AwsError::from_sdk::<aws_sdk_iam::operation::tag_user::TagUserError>(
                    "iam:TagUser",
                    aws_smithy_runtime_api::client::result::SdkError::construction_failure(e),
                )
            })?;
        request = request.tags(tag);
    }
    request
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:TagUser", e))?;
    Ok(())
}

pub async fn untag_user(client: &Client, user: &str, keys: &[&str]) -> Result<(), AwsError> {
    client
        .untag_user()
        .user_name(user)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("iam:UntagUser", e))?;
    Ok(())
}
