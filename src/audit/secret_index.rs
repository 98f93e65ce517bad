//! The secret index: which keys the rotation secrets hold, across the audited regions, from the
//! secrets' tags (ListSecrets; no secret value is read): the account's own secrets and, for an
//! account audited through a role, those of the central account (the function's own) whose
//! user is in it. A cross-account rotation keeps its secret where the rotator runs and its user
//! in a member account: its replaced key is swept in the member's run, through the member's
//! role, from the central secret's tags as the audit itself reads them (never from anything the
//! member account or a fan-out message says), under the same binding and retirement rules.

use super::context::{Account, Ctx};
use super::report::Finding;
use super::verdict::iam::{CentralGap, SecretIndex};
use crate::arn::{is_account_id, Arn};
use crate::aws::secret_list::SecretFacts;
use crate::aws::Aws;
use crate::binding::SecretKeyRefs;
use std::collections::{BTreeMap, BTreeSet};
use tracing::warn;

/// The rotation secrets of the central account, as one run lists them once.
#[derive(Debug, Default)]
pub(super) struct Central {
    refs: Vec<SecretKeyRefs>,
    untracked: Vec<String>,
    /// The regions whose secrets could not be listed: (region, why, error code).
    failed: Vec<(String, String, Option<String>)>,
}

/// Notes on the rotation verdicts of secrets, by secret ARN.
pub(super) type SecretNotes = BTreeMap<String, String>;

impl Ctx<'_> {
    /// Which keys the account's rotation secrets hold (with, for an account audited through a
    /// role, the central secrets whose user is in it), every secret of the account, and, in the
    /// central account's `full` audit, a note on each secret whose user is in an account the
    /// audit does not cover. A region whose secrets cannot be listed becomes an ERROR finding and
    /// makes the index incomplete (the sweep then acts on nothing); one of the central account
    /// keeps only the keys of users bound to a secret outside the account ([`CentralGap`]).
    pub(super) async fn secret_index(
        &self,
        account: &Account,
        regions: &[(String, Aws)],
        full: bool,
        findings: &mut Vec<Finding>,
    ) -> (SecretIndex, Vec<(String, SecretFacts)>, SecretNotes) {
        let per_region =
            futures::future::join_all(regions.iter().map(|(region, aws)| async move {
                aws.secrets.rotation_secrets().await.map_err(|e| {
                    Finding::scope_error(
                        "secretsmanager:ListSecrets",
                        account.id.as_deref(),
                        Some(region),
                        format!(
                            "rotation secrets cannot be listed ({})",
                            e.code_or_message()
                        ),
                        e.code.as_deref(),
                    )
                })
            }))
            .await;
        let mut complete = true;
        let (mut refs, mut untracked, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for (region, listed) in regions.iter().map(|(r, _)| r).zip(per_region) {
            match listed {
                Ok(r) => {
                    refs.extend(r.refs);
                    untracked.extend(r.untracked);
                    all.extend(r.all.into_iter().map(|s| (region.clone(), s)));
                }
                Err(f) => {
                    complete = false;
                    findings.push(f);
                }
            }
        }
        let mut notes = SecretNotes::new();
        let mut gap = None;
        let mut central_arns = BTreeSet::new();
        // The central account is the function's own, audited with its own credentials or, with
        // AUDIT_ROLE_ARNS, through a role of its own.
        let central_account = account.role.is_none()
            || (account.id.is_some() && self.own_account_id().await.ok() == account.id);
        if !central_account {
            let central = self.central_secrets().await;
            for (region, why, code) in &central.failed {
                gap.get_or_insert_with(|| CentralGap {
                    account: account.id.clone(),
                    regions: BTreeSet::new(),
                })
                .regions
                .insert(region.clone());
                findings.push(Finding::scope_error(
                    "secretsmanager:ListSecrets",
                    account.id.as_deref(),
                    Some(region),
                    format!("the central account's rotation secrets cannot be listed ({why}): no key of a user of this account bound to a secret of another account is swept"),
                    code.as_deref(),
                ));
            }
            // (A secret listed twice counts once.)
            let own: BTreeSet<String> = refs
                .iter()
                .map(|r: &SecretKeyRefs| r.secret_arn.clone())
                .chain(untracked.iter().cloned())
                .collect();
            let merged: Vec<SecretKeyRefs> = central
                .refs
                .iter()
                .filter(|r| !own.contains(&r.secret_arn))
                .filter(|r| user_may_be_in(r, account.id.as_deref()))
                .cloned()
                .collect();
            central_arns.extend(merged.iter().map(|r| r.secret_arn.clone()));
            refs.extend(merged);
            untracked.extend(
                central
                    .untracked
                    .iter()
                    .filter(|u| !own.contains(*u))
                    .cloned(),
            );
        } else if complete && full {
            notes = self.unreached(account, &refs).await;
        }
        let mut index = SecretIndex::new(refs, untracked, complete).with_central(central_arns);
        index.central_gap = gap;
        (index, all, notes)
    }

    /// The central account's rotation secrets in its audited regions, listed with the function's
    /// own credentials once a run.
    async fn central_secrets(&self) -> &Central {
        self.central
            .get_or_init(|| async {
                let mut central = Account {
                    id: self.own_account_id().await.ok(),
                    role: None,
                    credentials: None,
                    regions: Vec::new(),
                };
                let (regions, refused) = self.regions_of(&central).await;
                central.regions = regions;
                let mut out = Central::default();
                if let Some(f) = refused {
                    out.failed
                        .push((self.regions[0].clone(), f.reason, f.error_code));
                }
                let listed = futures::future::join_all(central.regions.iter().map(|r| {
                    let aws = self.aws(&central, r);
                    async move { aws.secrets.rotation_secrets().await }
                }))
                .await;
                for (region, listed) in central.regions.iter().zip(listed) {
                    match listed {
                        Ok(r) => {
                            out.refs.extend(r.refs);
                            out.untracked.extend(r.untracked);
                        }
                        Err(e) => {
                            warn!(region = %region, error = %e, "cannot list the central account's rotation secrets");
                            out.failed
                                .push((region.clone(), e.code_or_message(), e.code.clone()));
                        }
                    }
                }
                out
            })
            .await
    }

    /// A note on each rotation secret of the central account whose user is in an account (the
    /// secret tag `KeyRotationUserAccount`) this audit does not cover: its replaced keys are
    /// never swept, and nothing is called in that account.
    async fn unreached(&self, account: &Account, refs: &[SecretKeyRefs]) -> SecretNotes {
        let mut elsewhere: BTreeMap<Option<&str>, Vec<(&str, &str)>> = BTreeMap::new();
        for r in refs {
            let Some(tagged) = r.user_account.as_deref() else {
                continue;
            };
            let in_account = Some(tagged).filter(|a| is_account_id(a));
            if in_account.is_some() && in_account == account.id.as_deref() {
                continue;
            }
            elsewhere
                .entry(in_account)
                .or_default()
                .push((&r.secret_arn, r.user.as_deref().unwrap_or("(unnamed)")));
        }
        let mut notes = SecretNotes::new();
        if elsewhere.is_empty() {
            return notes;
        }
        // The Organization's accounts, listed once a run (⌈N/20⌉ pages), whatever the number of
        // secrets and of the accounts they name: one account named, or a thousand.
        let organization = match &self.config().org_role_name {
            None => Ok(BTreeSet::new()),
            Some(_) => match self.active_accounts().await {
                None => Err("no Organizations client".to_owned()),
                Some(Ok(ids)) => Ok(ids.iter().cloned().collect()),
                Some(Err(e)) => Err(e.code_or_message()),
            },
        };
        for (in_account, secrets) in elsewhere {
            let why = match in_account {
                None => "which names no account".to_owned(),
                Some(a) => match self.covers(a, &organization) {
                    Ok(true) => continue,
                    Ok(false) => format!("is in account {a}, which this audit does not cover"),
                    Err(e) => {
                        format!("is in account {a}, which this audit cannot tell it covers ({e})")
                    }
                },
            };
            for (secret, user) in secrets {
                warn!(secret_id = %secret, user = %user, why = %why,
                      "a rotation secret's user is out of the audit's reach: its replaced keys are not swept");
                notes.insert(
                    secret.to_owned(),
                    format!("its user {user} {why}: the sweep never acts on its keys"),
                );
            }
        }
        notes
    }

    /// Whether a full audit reaches `account` (another than the function's own): a role of
    /// `AUDIT_ROLE_ARNS` is in it, or, with `AUDIT_ORG_ROLE_NAME`, it is one of the
    /// Organization's ACTIVE accounts (`organization`, listed once). No role is assumed to tell.
    fn covers(
        &self,
        account: &str,
        organization: &Result<BTreeSet<String>, String>,
    ) -> Result<bool, String> {
        let config = self.config();
        if config
            .role_arns
            .iter()
            .any(|r| Arn::parse(r).and_then(|a| a.account_id()) == Some(account))
        {
            return Ok(true);
        }
        match organization {
            Ok(ids) => Ok(config.org_role_name.is_some() && ids.contains(account)),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Whether a central secret's user may be in `account`: its `KeyRotationUserAccount` tag names
/// that account, or the secret has none (last rotated before the rotator recorded it; its keys
/// are then matched by their ids alone, which are unique across AWS).
fn user_may_be_in(r: &SecretKeyRefs, account: Option<&str>) -> bool {
    r.user_account
        .as_deref()
        .is_none_or(|tagged| account.is_some_and(|a| is_account_id(a) && tagged == a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_central_secret_counts_only_in_the_account_its_user_account_names() {
        let with = |account: Option<&str>| SecretKeyRefs {
            user_account: account.map(str::to_owned),
            ..SecretKeyRefs::default()
        };
        let member = Some("111122223333");
        assert!(user_may_be_in(&with(Some("111122223333")), member));
        assert!(!user_may_be_in(&with(Some("444455556666")), member));
        // An ARN (the tag holds the id alone), a prefix, or an account unknown: in no account.
        assert!(!user_may_be_in(
            &with(Some("arn:aws:iam::111122223333:user/alice")),
            member
        ));
        assert!(!user_may_be_in(&with(Some("1111")), member));
        assert!(!user_may_be_in(&with(Some("111122223333")), None));
        // No tag (rotated before the rotator wrote it): matched by key id, in every account.
        assert!(user_may_be_in(&with(None), member));
    }
}
