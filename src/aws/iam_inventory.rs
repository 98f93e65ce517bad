//! IAM and Secrets Manager calls of the audit: the account's users and access keys, and which
//! keys rotation secrets hold. Every call goes through a [`Lane`].
//!
//! Which keys a secret holds comes from the tags the rotator writes on it (ListSecrets returns
//! them): the audit never reads a secret value.

use crate::audit::gate::Lane;
use crate::error::AwsError;
use aws_sdk_iam::types::SummaryKeyType;

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

/// GetUser: the user's ARN and tags (its binding), read just before the sweep deletes a key.
pub async fn get_user(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    user: &str,
) -> Result<crate::aws::iam::UserInfo, AwsError> {
    lane.call("iam:GetUser", crate::aws::iam::get_user(client, user))
        .await
}

/// UpdateAccessKey to Inactive.
pub async fn deactivate_access_key(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    user: &str,
    key_id: &str,
) -> Result<(), AwsError> {
    lane.call(
        "iam:UpdateAccessKey",
        crate::aws::iam::set_active(client, user, key_id, false),
    )
    .await
}

/// TagUser with one tag.
pub async fn tag_user(
    client: &aws_sdk_iam::Client,
    lane: &Lane,
    user: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    lane.call(
        "iam:TagUser",
        crate::aws::iam::tag_user(client, user, &[(key, value.to_owned())]),
    )
    .await
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

/// The rotation secrets of one region, read from ListSecrets alone (never a secret value): the
/// key ids the rotator records in each secret's tags ([`crate::binding`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionSecrets {
    pub refs: Vec<SecretKeyRefs>,
    /// Secrets tagged `RotationType=iam-access-key`, with rotation on, that carry no key-id tags
    /// yet (not rotated since the rotator began recording them): which keys they hold is unknown.
    pub untracked: Vec<String>,
    /// Every secret of the region, for its rotation verdict.
    pub all: Vec<crate::audit::secret_rotation::SecretFacts>,
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

fn secret_facts(
    s: &aws_sdk_secretsmanager::types::SecretListEntry,
    arn: &str,
) -> crate::audit::secret_rotation::SecretFacts {
    use crate::audit::secret_rotation::{schedule_days, SecretFacts};
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
                Some(refs) => out.refs.push(refs),
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
