//! IAM and Secrets Manager calls of the audit: the account's users and access keys, and which
//! keys rotation secrets hold. Every call goes through a [`Lane`].
//!
//! A secret value is read only for its `UserName`, `AccessKeyId` (or `aws_access_key_id`),
//! `PreviousAccessKeyId` and `CreateDate`: it is parsed into a struct that has no other field,
//! and a value that does not parse is skipped without its content or the parser's message
//! (which may quote it) going anywhere.

use crate::audit::gate::Lane;
use crate::error::AwsError;
use aws_sdk_iam::types::SummaryKeyType;
use serde::Deserialize;

/// The tag the SAM template puts on rotation secrets.
pub const ROTATION_TYPE_TAG: &str = "RotationType";
pub const ROTATION_TYPE_VALUE: &str = "iam-access-key";

/// One access key as ListAccessKeys reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub user: String,
    pub id: String,
    /// `Active`, `Inactive` or `Expired`.
    pub status: String,
    /// Seconds since the epoch.
    pub created: Option<i64>,
}

/// What GetAccessKeyLastUsed says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastUsed {
    /// Seconds since the epoch; `None` when the key was never used.
    pub date: Option<i64>,
    pub service: Option<String>,
    pub region: Option<String>,
}

/// A secret that may hold an access key: tagged as a rotation secret, or with rotation on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCandidate {
    pub arn: String,
    pub tagged: bool,
    pub rotation_enabled: bool,
}

/// The key ids an access-key secret's AWSCURRENT value names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretKeyRefs {
    pub secret_arn: String,
    pub user: Option<String>,
    pub current_key: Option<String>,
    pub previous_key: Option<String>,
    /// The current key's CreateDate (seconds since the epoch): when the previous key was replaced.
    pub current_created: Option<i64>,
}

pub async fn list_users(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
) -> Result<Vec<String>, AwsError> {
    let mut pages = client.list_users().into_paginator().send();
    let mut users = Vec::new();
    while let Some(page) = lane.page("iam:ListUsers", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("iam:ListUsers", e))?;
        users.extend(page.users().iter().map(|u| u.user_name().to_owned()));
    }
    Ok(users)
}

pub async fn list_access_keys(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    user: &str,
) -> Result<Vec<AccessKeyRecord>, AwsError> {
    let mut pages = client
        .list_access_keys()
        .user_name(user)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = lane.page("iam:ListAccessKeys", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("iam:ListAccessKeys", e))?;
        keys.extend(page.access_key_metadata().iter().filter_map(|k| {
            Some(AccessKeyRecord {
                user: k.user_name().unwrap_or(user).to_owned(),
                id: k.access_key_id()?.to_owned(),
                status: k
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                created: k.create_date().map(|d| d.secs()),
            })
        }));
    }
    Ok(keys)
}

pub async fn last_used(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    key_id: &str,
) -> Result<LastUsed, AwsError> {
    let out = lane
        .call(
            "iam:GetAccessKeyLastUsed",
            client
                .get_access_key_last_used()
                .access_key_id(key_id)
                .send(),
        )
        .await
        .map_err(|e| AwsError::from_sdk("iam:GetAccessKeyLastUsed", e))?;
    let known = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_owned());
    Ok(out
        .access_key_last_used()
        .map(|u| LastUsed {
            date: u.last_used_date().map(|d| d.secs()),
            service: known(u.service_name()),
            region: known(u.region()),
        })
        .unwrap_or_default())
}

/// How many access keys the root user has (GetAccountSummary's `AccountAccessKeysPresent`).
pub async fn root_access_keys(client: &aws_sdk_iam::Client, lane: &Lane) -> Result<i32, AwsError> {
    let out = lane
        .call("iam:GetAccountSummary", client.get_account_summary().send())
        .await
        .map_err(|e| AwsError::from_sdk("iam:GetAccountSummary", e))?;
    Ok(out
        .summary_map()
        .and_then(|m| m.get(&SummaryKeyType::AccountAccessKeysPresent).copied())
        .unwrap_or(0))
}

pub async fn delete_access_key(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    user: &str,
    key_id: &str,
) -> Result<bool, AwsError> {
    lane.call(
        "iam:DeleteAccessKey",
        crate::aws::iam::delete_key(client, user, key_id),
    )
    .await
}

/// The secrets of one region that may hold access keys: tagged `RotationType=iam-access-key`,
/// or with rotation enabled (an untagged secret rotated by this function).
pub async fn secret_candidates(
    client: &aws_sdk_secretsmanager::Client,
    lane: &Lane,
) -> Result<Vec<SecretCandidate>, AwsError> {
    let mut pages = client
        .list_secrets()
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = lane.page("secretsmanager:ListSecrets", pages.next()).await {
        let page = page.map_err(|e| AwsError::from_sdk("secretsmanager:ListSecrets", e))?;
        for s in page.secret_list() {
            let Some(arn) = s.arn() else { continue };
            let tagged = s.tags().iter().any(|t| {
                t.key() == Some(ROTATION_TYPE_TAG) && t.value() == Some(ROTATION_TYPE_VALUE)
            });
            let rotation_enabled = s.rotation_enabled().unwrap_or(false);
            if tagged || rotation_enabled {
                out.push(SecretCandidate {
                    arn: arn.to_owned(),
                    tagged,
                    rotation_enabled,
                });
            }
        }
    }
    Ok(out)
}

/// The only fields of a secret value the audit reads.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "UserName", default)]
    user_name: Option<String>,
    #[serde(rename = "AccessKeyId", default)]
    access_key_id: Option<String>,
    #[serde(rename = "aws_access_key_id", default)]
    alias_access_key_id: Option<String>,
    #[serde(rename = "PreviousAccessKeyId", default)]
    previous_access_key_id: Option<String>,
    #[serde(rename = "CreateDate", default)]
    create_date: Option<String>,
}

/// Reads the key ids of a secret value; `None` when it is not an access-key secret.
pub fn key_refs_of(secret_arn: &str, secret_string: &str) -> Option<SecretKeyRefs> {
    let f: KeyFields = serde_json::from_str(secret_string).ok()?;
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    let current_key = nonempty(f.access_key_id).or_else(|| nonempty(f.alias_access_key_id));
    let previous_key = nonempty(f.previous_access_key_id);
    if current_key.is_none() && previous_key.is_none() {
        return None;
    }
    Some(SecretKeyRefs {
        secret_arn: secret_arn.to_owned(),
        user: nonempty(f.user_name),
        current_key,
        previous_key,
        current_created: f
            .create_date
            .as_deref()
            .and_then(crate::time::parse_rfc3339),
    })
}

/// The AWSCURRENT value's key ids; `Ok(None)` for a secret that is not an access-key secret
/// (binary, not JSON, no key id).
pub async fn secret_key_refs(
    client: &aws_sdk_secretsmanager::Client,
    lane: &Lane,
    secret_arn: &str,
) -> Result<Option<SecretKeyRefs>, AwsError> {
    let out = lane
        .call(
            "secretsmanager:GetSecretValue",
            client
                .get_secret_value()
                .secret_id(secret_arn)
                .version_stage(crate::aws::secrets::AWSCURRENT)
                .send(),
        )
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:GetSecretValue", e))?;
    Ok(out.secret_string().and_then(|s| key_refs_of(secret_arn, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_key_ids_of_a_secret() {
        let v = r#"{"UserName":"alice","AccessKeyId":"AKIACUR","SecretAccessKey":"s3cr3t",
                    "CreateDate":"2026-11-22T09:00:00Z","PreviousAccessKeyId":"AKIAOLD","Extra":{"a":1}}"#;
        let r = key_refs_of("arn:s", v).unwrap();
        assert_eq!(
            r,
            SecretKeyRefs {
                secret_arn: "arn:s".into(),
                user: Some("alice".into()),
                current_key: Some("AKIACUR".into()),
                previous_key: Some("AKIAOLD".into()),
                current_created: Some(1_795_338_000),
            }
        );
        assert!(!format!("{r:?}").contains("s3cr3t"));
        let alias = key_refs_of(
            "arn:s",
            r#"{"aws_access_key_id":"AKIAX","aws_secret_access_key":"k"}"#,
        )
        .unwrap();
        assert_eq!(alias.current_key.as_deref(), Some("AKIAX"));
    }

    #[test]
    fn other_secrets_are_skipped() {
        assert_eq!(key_refs_of("a", "hunter2"), None);
        assert_eq!(key_refs_of("a", r#""hunter2""#), None);
        assert_eq!(key_refs_of("a", r#"{"password":"hunter2"}"#), None);
        assert_eq!(key_refs_of("a", r#"{"AccessKeyId":5}"#), None);
    }
}
