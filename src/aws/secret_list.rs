//! Every secret of a region as ListSecrets describes it (the audit, which never reads a secret
//! value): its rotation facts, and the key ids the rotator records in its tags.

use crate::aws::error::AwsError;
use crate::aws::secrets::Secrets;
use crate::binding::{key_refs_of_tags, SecretKeyRefs, ROTATION_TYPE_TAG, ROTATION_TYPE_VALUE};

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
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned),
    }
}

impl Secrets {
    /// The rotation secrets of one region (ListSecrets, 100 per page).
    pub async fn rotation_secrets(&self) -> Result<RegionSecrets, AwsError> {
        let mut pages = self
            .client()
            .list_secrets()
            .max_results(100)
            .into_paginator()
            .send();
        let mut out = RegionSecrets::default();
        while let Some(page) = self
            .lane()
            .next_page("secretsmanager:ListSecrets", pages.next())
            .await
        {
            let page = page?;
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
                        && tags()
                            .any(|(k, v)| k == ROTATION_TYPE_TAG && v == ROTATION_TYPE_VALUE) =>
                    {
                        out.untracked.push(arn.to_owned());
                    }
                    None => {}
                }
            }
        }
        Ok(out)
    }
}
