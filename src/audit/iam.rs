//! The IAM part of an audit: every user's access keys (or one user's, for an event), the root
//! user's, the rotation secrets that hold them, and the exemptions of users with failing keys.

use super::context::{Account, Ctx, NOT_AUDITED};
use super::events::IamUserRef;
use super::report::{Finding, IamDetail, Kind};
use super::verdict::iam::{
    age_days, is_old, judge_access_key, judge_root_keys, LastUseLookup, SecretIndex,
};
use super::verdict::secret::judge_secret;
use super::verdict::{apply_exemption, ExemptionTags, Verdict};
use crate::aws::error::AwsError;
use crate::aws::iam::{AccessKey, Iam};
use crate::aws::Aws;
use crate::binding::SecretKeyRefs;
use crate::time::rfc3339;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeSet, HashMap};

/// The `user` of the root user's access-key finding.
const ROOT_USER: &str = "<root_account>";

impl Ctx<'_> {
    /// The access keys of every user (`user` = None) or of one user, and the root user's.
    pub(super) async fn iam(&self, account: &Account, user: Option<&IamUserRef>) -> Vec<Finding> {
        let regions: Vec<(String, Aws)> = account
            .regions
            .iter()
            .map(|r| (r.clone(), self.aws(account, r)))
            .collect();
        let iam = &regions[0].1.iam;
        let acct = account.id.as_deref();
        let mut findings = Vec::new();

        if matches!(user, None | Some(IamUserRef::Root)) {
            match iam.root_access_keys().await {
                Ok(n) => findings.extend(judge_root_keys(n).map(|j| Finding {
                    account: account.id.clone(),
                    iam: Some(IamDetail {
                        user: ROOT_USER.to_owned(),
                        ..IamDetail::default()
                    }),
                    ..Finding::new(
                        Kind::IamAccessKey,
                        format!("root:{}", account.label()),
                        j.verdict,
                        j.reason,
                    )
                })),
                Err(e) => findings.push(Finding::scope_error(
                    "iam:GetAccountSummary",
                    acct,
                    None,
                    format!(
                        "the root user's access keys cannot be counted ({})",
                        e.code_or_message()
                    ),
                    e.code.as_deref(),
                )),
            }
        }
        let users = match user {
            None => match iam.list_users().await {
                Ok(u) => u,
                Err(e) => {
                    findings.push(Finding::scope_error(
                        "iam:ListUsers",
                        acct,
                        None,
                        format!(
                            "IAM users cannot be listed; no access key was audited ({})",
                            e.code_or_message()
                        ),
                        e.code.as_deref(),
                    ));
                    return findings;
                }
            },
            Some(IamUserRef::Named(u)) => vec![u.clone()],
            Some(IamUserRef::Root) => Vec::new(),
        };
        let targeted = user.is_some();

        // Every user's keys.
        type Listed = (String, Option<Result<Vec<AccessKey>, AwsError>>);
        let listed: Vec<Listed> = stream::iter(users)
            .map(|u| async move {
                if self.out_of_time() {
                    return (u, None);
                }
                let r = iam.list_keys(&u).await;
                (u, Some(r))
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;
        let mut keys = Vec::new();
        for (u, result) in listed {
            let Some(result) = result else {
                findings.push(Finding {
                    account: account.id.clone(),
                    ..Finding::new(Kind::IamUser, u, Verdict::Error, NOT_AUDITED)
                });
                continue;
            };
            match result {
                Ok(k) => keys.extend(k),
                Err(e) if e.code_is("NoSuchEntity") => {
                    if targeted {
                        findings.push(Finding {
                            account: account.id.clone(),
                            ..Finding::new(
                                Kind::IamUser,
                                u,
                                Verdict::NotApplicable,
                                "user no longer exists",
                            )
                        });
                    }
                }
                Err(e) => findings.push(Finding {
                    account: account.id.clone(),
                    error_code: e.code.clone(),
                    ..Finding::new(
                        Kind::IamUser,
                        u,
                        Verdict::Error,
                        format!(
                            "the user's access keys cannot be listed ({})",
                            e.code_or_message()
                        ),
                    )
                }),
            }
        }

        // When the Active keys were last used: where it says something to the reader (a failing
        // key, a user an event names), not for every key of a scheduled audit.
        let with_use: Vec<(AccessKey, LastUseLookup)> = stream::iter(keys)
            .map(|k| async move {
                let wanted = targeted || is_old(&k, &self.iam_policy);
                let last = if k.is_active() && !wanted {
                    LastUseLookup::NotAsked
                } else if k.is_active() && self.out_of_time() {
                    LastUseLookup::Unknown(
                        "not looked up: the invocation ran out of time".to_owned(),
                    )
                } else if k.is_active() {
                    match iam.last_used(&k.id).await {
                        Ok(u) => LastUseLookup::Known(u),
                        Err(e) => LastUseLookup::Unknown(e.code_or_message()),
                    }
                } else {
                    LastUseLookup::Known(Default::default())
                };
                (k, last)
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;

        // The secrets, from their tags and metadata (ListSecrets: a page per 100 secrets per
        // region, never a value): which keys rotation secrets hold (`managed_by`, the sweep), and,
        // in a full audit, each secret's rotation verdict.
        let need_index = !with_use.is_empty() || user.is_none();
        let (index, secrets, notes) = if need_index && self.out_of_time() {
            (
                Some(SecretIndex::new([], Vec::new(), false)),
                Vec::new(),
                Default::default(),
            )
        } else if need_index {
            let (index, secrets, notes) = self
                .secret_index(account, &regions, user.is_none(), &mut findings)
                .await;
            (Some(index), secrets, notes)
        } else {
            (None, Vec::new(), Default::default())
        };
        if user.is_none() {
            let untracked = index.as_ref().map_or(&[][..], SecretIndex::untracked);
            findings.extend(secrets.iter().map(|(region, s)| {
                let mut j = judge_secret(s, untracked.contains(&s.arn), self.iam_policy.now);
                if let Some(note) = notes.get(&s.arn) {
                    j.reason.push_str(&format!("; {note}"));
                }
                Finding {
                    account: account.id.clone(),
                    region: Some(region.clone()),
                    ..Finding::new(Kind::Secret, s.arn.clone(), j.verdict, j.reason)
                }
            }));
        }

        let mut judged = stream::iter(with_use)
            .map(|(k, last)| {
                let index = index.as_ref();
                async move {
                    self.access_key_finding(account, iam, &k, &last, index)
                        .await
                }
            })
            .buffer_unordered(self.config().concurrency)
            .collect::<Vec<_>>()
            .await;
        self.exempt_users(iam, &mut judged).await;
        findings.extend(judged);
        findings
    }

    /// EXEMPT for the non-compliant keys of users tagged `KeyRotationExempt` with a valid
    /// `KeyRotationExemptUntil`; a tag not honoured is named in the reason. One GetUser per user
    /// with a non-compliant key (an exemption changes nothing elsewhere).
    pub(super) async fn exempt_users(&self, iam: &Iam, findings: &mut [Finding]) {
        let users: BTreeSet<String> = findings
            .iter()
            .filter(|f| f.kind == Kind::IamAccessKey && f.verdict == Verdict::NonCompliant)
            .filter_map(|f| f.user().map(str::to_owned))
            .filter(|u| u != ROOT_USER)
            .collect();
        if users.is_empty() || self.out_of_time() {
            return;
        }
        let tags: HashMap<String, Result<ExemptionTags, String>> = stream::iter(users)
            .map(|u| async move {
                let tag = iam
                    .get_user(&u)
                    .await
                    .map(|info| ExemptionTags::from_lookup(|k| info.tag(k)))
                    .map_err(|e| e.code_or_message());
                (u, tag)
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;
        for f in findings
            .iter_mut()
            .filter(|f| f.kind == Kind::IamAccessKey && f.verdict == Verdict::NonCompliant)
        {
            match f.user().and_then(|u| tags.get(u)) {
                Some(Ok(tags)) => {
                    if let Some(e) =
                        apply_exemption(f.verdict, &f.reason, tags, self.iam_policy.now)
                    {
                        f.verdict = e.verdict;
                        f.reason = e.reason;
                        f.exemption = e.exemption;
                    }
                }
                Some(Err(code)) => f.reason.push_str(&format!("; exemption unknown ({code})")),
                None => {}
            }
        }
    }

    pub(super) async fn access_key_finding(
        &self,
        account: &Account,
        iam: &Iam,
        key: &AccessKey,
        last: &LastUseLookup,
        index: Option<&SecretIndex>,
    ) -> Finding {
        let j = judge_access_key(key, last, index, &self.iam_policy);
        let (last_used, last_used_service) = match last {
            LastUseLookup::Known(u) => (u.date.map(rfc3339), u.service.clone()),
            LastUseLookup::Unknown(_) | LastUseLookup::NotAsked => (None, None),
        };
        let finding = Finding {
            account: account.id.clone(),
            iam: Some(IamDetail {
                user: key.user.clone(),
                managed_by: index
                    .and_then(|i| i.current_of(&key.id, None))
                    .map(|s: &SecretKeyRefs| s.secret_arn.clone()),
                status: Some(key.status.clone()),
                age_days: key.created.map(|c| age_days(c, self.iam_policy.now)),
                created: key.created.map(rfc3339),
                last_used: last_used.filter(|_| key.is_active()),
                last_used_service: last_used_service.filter(|_| key.is_active()),
            }),
            ..Finding::new(Kind::IamAccessKey, key.id.clone(), j.verdict, j.reason)
        };
        self.sweep(account, iam, key, index, finding).await
    }
}
