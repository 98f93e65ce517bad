//! IAM calls on users and their access keys, for the rotation and the audit alike. Every call
//! goes through the handle's [`Lane`] (the audit's limits and counters; none for a rotation).

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use crate::aws::sts::Session;
use crate::secret::NewAccessKey;
use aws_sdk_iam::types::{StatusType, SummaryKeyType};
use aws_sdk_iam::Client;
use secrecy::SecretString;

/// One access key as ListAccessKeys reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub user: String,
    pub id: String,
    /// `Active`, `Inactive` or `Expired`.
    pub status: String,
    /// Seconds since the epoch.
    pub created: Option<i64>,
}

impl AccessKey {
    pub fn is_active(&self) -> bool {
        self.status == StatusType::Active.as_str()
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

/// An IAM client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Iam {
    client: Client,
    lane: Lane,
}

impl From<Client> for Iam {
    fn from(client: Client) -> Self {
        Self::new(client)
    }
}

impl Iam {
    /// Calls that go straight to IAM (the rotation).
    pub fn new(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }

    /// Calls under `lane`'s limits and counters (the audit).
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same IAM, signing with an assumed role's session.
    pub fn in_session(&self, session: &Session) -> Self {
        let client = Client::from_conf(
            self.client
                .config()
                .to_builder()
                .credentials_provider(session.credentials().clone())
                .build(),
        );
        Self::on(client, self.lane.clone())
    }

    /// The same client through another lane.
    pub fn through(&self, lane: Lane) -> Self {
        Self::on(self.client.clone(), lane)
    }

    /// Every user name of the account (ListUsers, 1,000 a page: IAM's largest).
    pub async fn list_users(&self) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .client
            .list_users()
            .max_items(1000)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        while let Some(page) = self.lane.next_page("iam:ListUsers", pages.next()).await {
            let page = page?;
            users.extend(page.users().iter().map(|u| u.user_name().to_owned()));
        }
        Ok(users)
    }

    /// The user's access keys (ListAccessKeys).
    pub async fn list_keys(&self, user: &str) -> Result<Vec<AccessKey>, AwsError> {
        self.keys_of(Some(user), user).await
    }

    /// The access keys of the caller itself (ListAccessKeys without a user name): in a root
    /// session, the root user's keys, reported as the user `root`.
    pub async fn list_own_keys(&self) -> Result<Vec<AccessKey>, AwsError> {
        self.keys_of(None, "root").await
    }

    async fn keys_of(&self, user: Option<&str>, shown: &str) -> Result<Vec<AccessKey>, AwsError> {
        let mut pages = self
            .client
            .list_access_keys()
            .set_user_name(user.map(str::to_owned))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = self
            .lane
            .next_page("iam:ListAccessKeys", pages.next())
            .await
        {
            let page = page?;
            keys.extend(page.access_key_metadata().iter().filter_map(|k| {
                Some(AccessKey {
                    user: k.user_name().unwrap_or(shown).to_owned(),
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

    /// When and where the key was last used (GetAccessKeyLastUsed).
    pub async fn last_used(&self, key: &str) -> Result<LastUse, AwsError> {
        let op = "iam:GetAccessKeyLastUsed";
        let send = self
            .client
            .get_access_key_last_used()
            .access_key_id(key)
            .send();
        let out = self.lane.send(op, send).await?;
        // IAM answers "N/A" for a key never used.
        let known = |s: &str| (!s.is_empty() && s != "N/A").then(|| s.to_owned());
        Ok(out
            .access_key_last_used()
            .map(|u| LastUse {
                date: u.last_used_date().map(|d| d.secs()),
                service: known(u.service_name()),
                region: known(u.region()),
            })
            .unwrap_or_default())
    }

    /// GetUser: the user's ARN and tags (its binding) in one call.
    pub async fn get_user(&self, user: &str) -> Result<UserInfo, AwsError> {
        let op = "iam:GetUser";
        let send = self.client.get_user().user_name(user).send();
        let out = self.lane.send(op, send).await?;
        let u = out
            .user()
            .ok_or_else(|| AwsError::invalid(op, "GetUser answered without a user"))?;
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

    /// CreateAccessKey. It is not idempotent: a lost answer would make a second key on a
    /// retry, so the SDK does not retry it; the step fails and the next attempt finds the
    /// orphan.
    pub async fn create_key(&self, user: &str) -> Result<NewAccessKey, AwsError> {
        let op = "iam:CreateAccessKey";
        let send = self
            .client
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(
                aws_sdk_iam::config::Config::builder()
                    .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled()),
            )
            .send();
        let out = self.lane.send(op, send).await?;
        let key = out
            .access_key()
            .ok_or_else(|| AwsError::invalid(op, "CreateAccessKey answered without a key"))?;
        Ok(NewAccessKey {
            access_key_id: key.access_key_id().to_owned(),
            secret_access_key: SecretString::from(key.secret_access_key().to_owned()),
            create_date: key
                .create_date()
                .map(|d| d.secs())
                .unwrap_or_else(crate::time::now_secs),
        })
    }

    /// UpdateAccessKey to Active or Inactive.
    pub async fn set_active(&self, user: &str, key: &str, active: bool) -> Result<(), AwsError> {
        let op = "iam:UpdateAccessKey";
        let status = if active {
            StatusType::Active
        } else {
            StatusType::Inactive
        };
        let send = self
            .client
            .update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(status)
            .send();
        self.lane.send(op, send).await?;
        Ok(())
    }

    /// Deletes a key; `Ok(false)` when it was already gone.
    pub async fn delete_key(&self, user: &str, key: &str) -> Result<bool, AwsError> {
        self.delete_key_of(Some(user), key).await
    }

    /// Deletes a key of the caller itself (DeleteAccessKey without a user name): in a root
    /// session, a key of the root user. `Ok(false)` when it was already gone.
    pub async fn delete_own_key(&self, key: &str) -> Result<bool, AwsError> {
        self.delete_key_of(None, key).await
    }

    async fn delete_key_of(&self, user: Option<&str>, key: &str) -> Result<bool, AwsError> {
        let op = "iam:DeleteAccessKey";
        let send = self
            .client
            .delete_access_key()
            .set_user_name(user.map(str::to_owned))
            .access_key_id(key)
            .send();
        match self.lane.send(op, send).await {
            Ok(_) => Ok(true),
            Err(err) if err.code_is("NoSuchEntity") => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Sets several tags of the user in one call.
    pub async fn tag_user(&self, user: &str, tags: &[(&str, String)]) -> Result<(), AwsError> {
        let op = "iam:TagUser";
        let mut request = self.client.tag_user().user_name(user);
        for (key, value) in tags {
            let tag = aws_sdk_iam::types::Tag::builder()
                .key(*key)
                .value(value)
                .build()
                .map_err(|e| AwsError::invalid(op, e))?;
            request = request.tags(tag);
        }
        self.lane.send(op, request.send()).await?;
        Ok(())
    }

    pub async fn untag_user(&self, user: &str, keys: &[&str]) -> Result<(), AwsError> {
        let op = "iam:UntagUser";
        let send = self
            .client
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
            .send();
        self.lane.send(op, send).await?;
        Ok(())
    }

    /// The names of the managed policies attached to the user (ListAttachedUserPolicies).
    pub async fn attached_policy_names(&self, user: &str) -> Result<Vec<String>, AwsError> {
        let op = "iam:ListAttachedUserPolicies";
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let send = self
                .client
                .list_attached_user_policies()
                .user_name(user)
                .set_marker(marker.take())
                .send();
            let out = self.lane.send(op, send).await?;
            names.extend(
                out.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_name().map(str::to_owned)),
            );
            match out.marker() {
                Some(m) if out.is_truncated() => marker = Some(m.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// How many access keys the root user has (GetAccountSummary's
    /// `AccountAccessKeysPresent`).
    pub async fn root_access_keys(&self) -> Result<i32, AwsError> {
        let op = "iam:GetAccountSummary";
        let out = self
            .lane
            .send(op, self.client.get_account_summary().send())
            .await?;
        Ok(out
            .summary_map()
            .and_then(|m| m.get(&SummaryKeyType::AccountAccessKeysPresent).copied())
            .unwrap_or(0))
    }
}
