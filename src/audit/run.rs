//! One audit run, top-down:
//! 1. what the trigger asks for (a full audit, fanned out or not; some KMS keys; one user);
//! 2. the targets: the accounts, each with its credentials and regions (`accounts`);
//! 3. per account, all at once: KMS per region (`kms`), then IAM with the secrets that hold
//!    its keys and the sweep of replaced keys (`iam`, `secret_index`, `sweep`);
//! 4. the export of the findings to Security Hub (`export`).
//!
//! The report is assembled from what this returns ([`super::Auditor`]).

use super::context::{Account, Ctx};
use super::events::{EventBatch, IamUserRef, KmsKeyRef, Target, Trigger};
use super::export::{self, HubOutcome};
use super::report::{exemptions_of, ExemptionEntry, Finding, Kind};
use super::verdict::exemption::{EXEMPT_TAG, SOON_DAYS};
use crate::aws::sns::{Notice, NoticeKind};
use crate::time::rfc3339;
use std::collections::BTreeMap;
use tracing::{info, warn};

/// What a run found.
pub(super) struct Audited {
    /// The ids of the accounts audited (or queued, for a fanned-out audit).
    pub(super) accounts: Vec<String>,
    pub(super) findings: Vec<Finding>,
    pub(super) hub: Option<HubOutcome>,
}

/// What an account is audited for.
pub(super) enum Work<'t> {
    Full,
    Keys(&'t [KmsKeyRef]),
    User(&'t IamUserRef),
    /// The distinct keys and users an event batch names in the account.
    Batch {
        keys: Vec<KmsKeyRef>,
        users: Vec<IamUserRef>,
    },
}

pub(super) async fn run(ctx: &Ctx<'_>, trigger: &Trigger) -> Audited {
    // 1. What the trigger asks for.
    let (named, work): (Vec<Option<&str>>, Work) = match trigger {
        Trigger::Full => match &ctx.config().fanout_queue_url {
            Some(url) => {
                let (accounts, findings) = ctx.fan_out(url).await;
                return Audited {
                    accounts,
                    findings,
                    hub: None,
                };
            }
            None => (vec![None], Work::Full),
        },
        Trigger::Accounts { accounts } => (
            accounts.iter().map(|a| Some(a.as_str())).collect(),
            Work::Full,
        ),
        Trigger::KmsKeys { account, keys, .. } => (vec![account.as_deref()], Work::Keys(keys)),
        Trigger::IamUser { account, user, .. } => (vec![account.as_deref()], Work::User(user)),
        Trigger::Events(batch) => return Box::pin(run_batch(ctx, batch)).await,
        Trigger::Nothing { cause, why } => {
            info!(cause = %cause, why = %why, "nothing to audit");
            return Audited {
                accounts: Vec::new(),
                findings: Vec::new(),
                hub: None,
            };
        }
    };

    // 2. The targets. The account an event or a fan-out message names is checked against the
    // Organization before its role is assumed: whoever can put an event on the bus or write to
    // the queue must not steer the audit elsewhere.
    let mut accounts: Vec<Account> = Vec::new();
    let mut findings = Vec::new();
    for event_account in named {
        let (found, errors) = ctx.accounts(event_account).await;
        accounts.extend(found);
        findings.extend(errors);
    }

    // 3. Every account at once.
    let per_account =
        futures::future::join_all(accounts.iter().map(|a| audit_account(ctx, a, &work))).await;
    findings.extend(per_account.into_iter().flatten());
    if matches!(work, Work::Full) {
        announce_expiring_exemptions(ctx, &findings).await;
    }

    export_and_finish(ctx, accounts, findings).await
}

/// The most resources one exemption notice names; the report lists them all.
const NOTICE_NAMES: usize = 20;

/// One notice per account whose honoured exemptions enter their last [`SOON_DAYS`] days today,
/// sent by the full audit of that day (once with the daily schedule; an exemption tagged with
/// fewer days left is listed and counted in the report, not announced). It names the KMS keys
/// and the users' access keys (at most [`NOTICE_NAMES`] resources) and the day, never the tag's
/// free text, and stops when the invocation runs out of time: the report comes first.
async fn announce_expiring_exemptions(ctx: &Ctx<'_>, findings: &[Finding]) {
    let Some(notifier) = ctx.notifier else {
        return;
    };
    let mut by_account: BTreeMap<Option<String>, Vec<ExemptionEntry>> = BTreeMap::new();
    for e in exemptions_of(findings) {
        if e.expires_in_days == SOON_DAYS {
            by_account.entry(e.account.clone()).or_default().push(e);
        }
    }
    for (account, entries) in by_account {
        if ctx.out_of_time() {
            warn!("out of time: exemptions entering their last days not announced");
            return;
        }
        let named = &entries[..entries.len().min(NOTICE_NAMES)];
        let key_ids = named
            .iter()
            .flat_map(|e| match e.kind {
                Kind::IamUser => e.access_keys.clone(),
                _ => vec![e.resource.clone()],
            })
            .collect();
        let users: Vec<&str> = named
            .iter()
            .filter(|e| e.kind == Kind::IamUser)
            .map(|e| e.resource.as_str())
            .collect();
        let mut reason = format!(
            "{} exemption(s) ({EXEMPT_TAG}) end on {} ({SOON_DAYS} days); from the day after, \
             the rotation verdict applies again",
            entries.len(),
            named[0].until
        );
        if !users.is_empty() {
            reason.push_str(&format!("; users: {}", users.join(", ")));
        }
        if entries.len() > named.len() {
            reason.push_str(&format!(
                "; {} more in the report's exemptions",
                entries.len() - named.len()
            ));
        }
        let notice = Notice {
            kind: NoticeKind::ExemptionExpiringSoon,
            account,
            secret: None,
            user: None,
            key_ids,
            reason,
        };
        notifier.publish(&notice).await;
    }
}

/// A batch of the event queue: one ERROR finding per refused record; per account named, one
/// membership check and one AssumeRole, then each distinct key and user once.
async fn run_batch(ctx: &Ctx<'_>, batch: &EventBatch) -> Audited {
    let mut findings: Vec<Finding> = batch
        .refused
        .iter()
        .map(|r| {
            let id = r.message_id.as_deref().unwrap_or("(no message id)");
            tracing::warn!(message_id = %id, why = %r.why, "event record refused");
            Finding::scope_error(
                format!("sqs-message/{id}"),
                None,
                None,
                format!("event record {id} refused, not audited: {}", r.why),
                None,
            )
        })
        .collect();
    info!(
        received = batch.received,
        audited = batch.targets.len(),
        duplicates = batch.duplicates,
        refused = batch.refused.len(),
        nothing = batch.nothing,
        "event batch read"
    );
    // Per account, in the order first named: its keys and users.
    let mut work: Vec<(&str, Vec<KmsKeyRef>, Vec<IamUserRef>)> = Vec::new();
    for target in &batch.targets {
        let at = match work.iter().position(|(a, ..)| *a == target.account()) {
            Some(i) => i,
            None => {
                work.push((target.account(), Vec::new(), Vec::new()));
                work.len() - 1
            }
        };
        match target {
            Target::Key { key, .. } => work[at].1.push(key.clone()),
            Target::User { user, .. } => work[at].2.push(user.clone()),
        }
    }
    let mut accounts: Vec<Account> = Vec::new();
    let mut jobs: Vec<(usize, Work)> = Vec::new();
    for (account, keys, users) in work {
        let (found, errors) = ctx.accounts(Some(account)).await;
        findings.extend(errors);
        for a in found {
            accounts.push(a);
            jobs.push((
                accounts.len() - 1,
                Work::Batch {
                    keys: keys.clone(),
                    users: users.clone(),
                },
            ));
        }
    }
    let per_account = futures::future::join_all(
        jobs.iter()
            .map(|(i, work)| audit_account(ctx, &accounts[*i], work)),
    )
    .await;
    findings.extend(per_account.into_iter().flatten());
    export_and_finish(ctx, accounts, findings).await
}

/// The export to Security Hub, and what the run found.
async fn export_and_finish(
    ctx: &Ctx<'_>,
    accounts: Vec<Account>,
    findings: Vec<Finding>,
) -> Audited {
    // 4. The export to Security Hub.
    let hub = if ctx.config().security_hub {
        // Boxed, like the audit itself: the SDK's futures are deep.
        Some(Box::pin(to_security_hub(ctx, &accounts, &findings)).await)
    } else {
        None
    };
    Audited {
        accounts: accounts.iter().filter_map(|a| a.id.clone()).collect(),
        findings,
        hub,
    }
}

/// One account: its KMS keys per region and its IAM side at once, or the keys or the user an
/// event names.
async fn audit_account(ctx: &Ctx<'_>, account: &Account, work: &Work<'_>) -> Vec<Finding> {
    match work {
        Work::Full => {
            let kms = account.regions.iter().map(|r| ctx.kms_region(account, r));
            let (kms, iam) = futures::join!(futures::future::join_all(kms), ctx.iam(account, None));
            kms.into_iter().flatten().chain(iam).collect()
        }
        Work::Keys(keys) => ctx.kms_keys(account, keys).await,
        Work::User(user) => ctx.iam(account, Some(user)).await,
        Work::Batch { keys, users } => {
            let kms = async {
                match keys.is_empty() {
                    true => Vec::new(),
                    false => ctx.kms_keys(account, keys).await,
                }
            };
            let iam = futures::future::join_all(users.iter().map(|u| ctx.iam(account, Some(u))));
            let (kms, iam) = futures::join!(kms, iam);
            kms.into_iter().chain(iam.into_iter().flatten()).collect()
        }
    }
}

/// One ASFF finding per resource, into the Security Hub of the resource's account and region
/// (through that account's credentials).
async fn to_security_hub(ctx: &Ctx<'_>, accounts: &[Account], findings: &[Finding]) -> HubOutcome {
    let home = ctx.regions[0].clone();
    let now = rfc3339(crate::time::now_secs().max(ctx.iam_policy.now));
    let mut out = HubOutcome::default();
    for (target, group) in export::by_target(findings, &home) {
        let Some(account) = accounts
            .iter()
            .find(|a| a.id.as_deref() == Some(target.account.as_str()))
        else {
            continue;
        };
        let hub = ctx.aws(account, &target.region).securityhub;
        let imported_before = out.imported;
        Box::pin(export::import(&hub, &group, &home, &now, &mut out)).await;
        // (Where nothing could be imported, Security Hub is not usable: no lookup either.)
        if out.imported > imported_before {
            Box::pin(export::reopen_suppressed(&hub, &group, &home, &mut out)).await;
        }
    }
    info!(
        imported = out.imported,
        failed = out.failed,
        calls = out.calls,
        reopened = out.reopened,
        "findings sent to Security Hub"
    );
    out
}
