//! The sweep: what happens to a replaced key once the rotation is done. It re-reads the facts
//! right before any change (GetUser for the binding and the switch, ListAccessKeys,
//! GetAccessKeyLastUsed of the replaced key and, while it is Active, of the current key),
//! deactivates the replaced key once its retirement is due, deletes it after the grace period,
//! and announces each action. With `SWEEP=report` it decides the same and only says what it
//! would do; with `SWEEP=false` it only judges Active replaced keys by their retirement.

use super::config::SweepMode;
use super::context::{Account, Ctx};
use super::report::{Action, Finding, WOULD_DEACTIVATE, WOULD_DELETE};
use super::verdict::iam::{CentralGap, Claim, SecretIndex};
use super::verdict::sweep::{
    judge_replaced_key, sweep_candidate, sweep_decision, Candidate, Consumers, Retiring, Sweep,
    SweepFacts, SweepPolicy,
};
use super::verdict::Verdict;
use crate::aws::error::AwsError;
use crate::aws::iam::{AccessKey, Iam, LastUse};
use crate::aws::sns::{Notice, NoticeKind};
use crate::binding::{self, key_time_value};
use crate::time::rfc3339;
use tracing::warn;

/// Claims of other secrets a finding names; the log names every one.
const MAX_CLAIMS_NAMED: usize = 2;

impl Ctx<'_> {
    /// Applies the sweep to one key's finding (when the key is a replaced key of a rotation
    /// secret): with SWEEP on or `report`, every such key; with SWEEP off, only an Active one,
    /// for its verdict.
    pub(super) async fn sweep(
        &self,
        account: &Account,
        iam: &Iam,
        key: &AccessKey,
        index: Option<&SecretIndex>,
        mut finding: Finding,
    ) -> Finding {
        let mode = self.config().sweep;
        if !(mode.decides() || key.is_active()) || self.out_of_time() {
            return finding;
        }
        let Some(index) = index else { return finding };
        let gap = index.central_gap.as_ref();
        let (decision, last_use, claims) = match sweep_candidate(key, index) {
            Sweep::Check(candidate) => self.sweep_check(iam, key, &candidate, gap).await,
            // (A key no listed secret names is not swept: one a central secret not listed
            // replaced waits for a run whose listing is complete, which the run's ERROR says.)
            other => (other, None, Vec::new()),
        };
        let policy = self.sweep_policy();
        // A replaced key of the secret its user is bound to is judged by its retirement, not by
        // its age: COMPLIANT until OLD_KEY_MAX_WAIT_DAYS after the switch.
        if let Sweep::Retiring(r) = &decision {
            let j = judge_replaced_key(key, r, &policy);
            finding.verdict = j.verdict;
            finding.reason = j.reason;
            if r.consumers == Consumers::InUse {
                finding
                    .reason
                    .push_str(&last_use.as_ref().map_or_else(String::new, describe_use));
            }
        }
        if !mode.decides() {
            return finding;
        }
        // Key-id tags of a secret the key's user is not bound to: whoever can tag a secret can
        // write them. Said, never acted on.
        // Anyone may create such secrets: the finding names a few (a long reason would be
        // refused by Security Hub, and the finding would go stale), the log the rest.
        for (i, claim) in claims.iter().enumerate() {
            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                  secret_id = %claim.secret_arn, stage = claim.stage,
                  "a secret the key's user is not bound to claims the key; the claim changes nothing");
            if i < MAX_CLAIMS_NAMED {
                finding.reason.push_str(&format!(
                    "; secret {} names it as its {} key, a claim that changes nothing (its user is not bound to that secret)",
                    claim.secret_arn, claim.stage
                ));
            }
        }
        if claims.len() > MAX_CLAIMS_NAMED {
            finding.reason.push_str(&format!(
                "; {} more secrets claim it (see the log)",
                claims.len() - MAX_CLAIMS_NAMED
            ));
        }
        let notice = match decision {
            Sweep::NotReplaced | Sweep::Check(_) => None,
            Sweep::Keep(why) => {
                finding.reason.push_str(&format!("; not swept: {why}"));
                None
            }
            Sweep::Retiring(r) => {
                self.retire(account, iam, key, &r, last_use.as_ref(), &mut finding)
                    .await
            }
            Sweep::Delete { secret_arn, since } => {
                self.delete(account, iam, key, &secret_arn, since, &mut finding)
                    .await
            }
        };
        if let (Some(n), Some(notifier), true) = (notice, self.notifier, mode.acts()) {
            notifier.publish(&n).await;
        }
        finding
    }

    /// An Active replaced key: deactivated when its retirement is due (said only, with
    /// `SWEEP=report`), else kept, with what keeps it and, close to the hard stop or in use
    /// past its wait, a notice.
    async fn retire(
        &self,
        account: &Account,
        iam: &Iam,
        key: &AccessKey,
        r: &Retiring,
        last_use: Option<&LastUse>,
        finding: &mut Finding,
    ) -> Option<Notice> {
        let policy = &self.sweep_policy();
        let replaced = rfc3339(r.switch.at);
        let Some(why) = r.retire_reason(policy) else {
            finding
                .reason
                .push_str(&format!("; {}", r.kept_reason(policy)));
            let used = last_use.map_or_else(String::new, describe_use);
            return if r.hard_stop_tomorrow {
                Some(self.notice(account, key, NoticeKind::ReplacedKeyHardStopTomorrow, &r.secret_arn, format!(
                    "replaced on {replaced} and still Active{used}: deactivated whatever its use on {} (OLD_KEY_FORCE_DAYS)",
                    rfc3339(r.hard_stop)
                )))
            } else if r.consumers == Consumers::InUse && policy.now >= r.max_wait_until {
                Some(self.notice(account, key, NoticeKind::ReplacedKeyStillInUse, &r.secret_arn, format!(
                    "replaced on {replaced} and still in use{used}, more than {} days after (OLD_KEY_MAX_WAIT_DAYS): find the consumer and move it to the current key",
                    policy.max_wait_days
                )))
            } else {
                None
            };
        };
        let detail = format!(
            "replaced by a rotation of secret {} on {replaced}: {why}",
            r.secret_arn
        );
        if self.report_only(finding, WOULD_DEACTIVATE, "deactivate", &why, &detail) {
            return None;
        }
        warn!(account = account.label(), user = %key.user, key_id = %key.id,
              secret_id = %r.secret_arn, previous_status = "Active",
              switched_at = %replaced, retire = ?r.retire, "deactivating replaced access key");
        if let Err(e) = iam.set_active(&key.user, &key.id, false).await {
            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                  error = %e, "the sweep could not deactivate the replaced key");
            finding.action = Some(Action {
                action: "UpdateAccessKey",
                succeeded: false,
                detail: format!("{detail}; deactivation failed ({})", e.code_or_message()),
            });
            return None;
        }
        // The grace period before deletion counts from here.
        let record = key_time_value(&key.id, self.iam_policy.now);
        if let Err(e) = iam
            .tag_user(&key.user, &[(binding::DEACTIVATED_TAG, record)])
            .await
        {
            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                  error = %e, "the deactivation could not be recorded on the user; its grace period will count from the end of its idle window");
        }
        // No longer Active: the key's verdict is an Inactive key's.
        finding.verdict = Verdict::NotApplicable;
        finding
            .reason
            .push_str(&format!("; deactivated by the sweep: {why}"));
        if let Some(iam) = finding.iam.as_mut() {
            iam.status = Some("Inactive".to_owned());
        }
        finding.action = Some(Action {
            action: "UpdateAccessKey",
            succeeded: true,
            detail: detail.clone(),
        });
        Some(self.notice(
            account,
            key,
            NoticeKind::ReplacedKeyDeactivated,
            &r.secret_arn,
            detail,
        ))
    }

    /// A replaced key Inactive past its grace period: deleted (said only, with `SWEEP=report`).
    async fn delete(
        &self,
        account: &Account,
        iam: &Iam,
        key: &AccessKey,
        secret_arn: &str,
        since: i64,
        finding: &mut Finding,
    ) -> Option<Notice> {
        let detail = format!(
            "replaced by a rotation of secret {secret_arn}, inactive since {}, more than {} days ago",
            rfc3339(since),
            self.config().shared.old_key_grace_days
        );
        let why = "inactive past its grace period";
        if self.report_only(finding, WOULD_DELETE, "delete", why, &detail) {
            return None;
        }
        warn!(account = account.label(), user = %key.user, key_id = %key.id,
              secret_id = %secret_arn, previous_status = "Inactive",
              inactive_since = %rfc3339(since), "deleting replaced access key");
        match iam.delete_key(&key.user, &key.id).await {
            Ok(_) => {
                finding.reason.push_str("; deleted by the sweep");
                finding.action = Some(Action {
                    action: "DeleteAccessKey",
                    succeeded: true,
                    detail: detail.clone(),
                });
                Some(self.notice(
                    account,
                    key,
                    NoticeKind::ReplacedKeyDeleted,
                    secret_arn,
                    detail,
                ))
            }
            Err(e) => {
                warn!(account = account.label(), user = %key.user, key_id = %key.id,
                      error = %e, "the sweep could not delete the replaced key");
                finding.action = Some(Action {
                    action: "DeleteAccessKey",
                    succeeded: false,
                    detail: format!("{detail}; deletion failed ({})", e.code_or_message()),
                });
                None
            }
        }
    }

    /// With `SWEEP=report`, says in the finding's reason and action what the sweep would do
    /// (`verb` the key, because `why`), and returns true: the caller then does nothing.
    fn report_only(
        &self,
        finding: &mut Finding,
        action: &'static str,
        verb: &str,
        why: &str,
        detail: &str,
    ) -> bool {
        if self.config().sweep != SweepMode::Report {
            return false;
        }
        finding
            .reason
            .push_str(&format!("; would {verb} it (SWEEP=report): {why}"));
        finding.action = Some(Action {
            action,
            succeeded: false,
            detail: format!("would {verb}: {detail}"),
        });
        true
    }

    fn notice(
        &self,
        account: &Account,
        key: &AccessKey,
        kind: NoticeKind,
        secret_arn: &str,
        reason: String,
    ) -> Notice {
        Notice {
            kind,
            account: account.id.clone(),
            secret: Some(secret_arn.to_owned()),
            user: Some(key.user.clone()),
            key_ids: vec![key.id.clone()],
            reason,
        }
    }

    pub(super) fn sweep_policy(&self) -> SweepPolicy {
        let config = self.config();
        SweepPolicy {
            idle_secs: i64::try_from(config.shared.old_key_idle.as_secs()).unwrap_or(i64::MAX),
            grace_days: config.shared.old_key_grace_days,
            max_wait_days: config.shared.old_key_max_wait_days,
            force_days: config.shared.old_key_force_days,
            now: self.iam_policy.now,
        }
    }

    /// Reads what decides a sweep candidate's fate, right before any change: the user's binding,
    /// the keys the rotator recorded as its own, the switch and the deactivation record
    /// (GetUser), its keys now (ListAccessKeys), the key's last use and, for an Active key, the
    /// last use of the bound secret's current key (GetAccessKeyLastUsed). Also returns the
    /// claims on the key of secrets the user is not bound to (all of them when the user cannot
    /// be read).
    pub(super) async fn sweep_check(
        &self,
        iam: &Iam,
        key: &AccessKey,
        candidate: &Candidate,
        gap: Option<&CentralGap>,
    ) -> (Sweep, Option<LastUse>, Vec<Claim>) {
        let claims = |bound_to: Option<&str>| candidate.foreign_claims(bound_to).cloned().collect();
        let failed = |what: &str, e: AwsError, claims: Vec<Claim>| {
            (
                Sweep::Keep(format!("{what} cannot be read ({})", e.code_or_message())),
                None,
                claims,
            )
        };
        let user = match iam.get_user(&key.user).await {
            Ok(u) => u,
            Err(e) => return failed("the user's binding", e, claims(None)),
        };
        let bound_to = user.tag(binding::BINDING_TAG);
        if let Some(why) = gap.and_then(|g| g.keeps(bound_to)) {
            return (Sweep::Keep(why), None, claims(bound_to));
        }
        let keys = match iam.list_keys(&key.user).await {
            Ok(k) => k,
            Err(e) => return failed("the user's keys", e, claims(bound_to)),
        };
        let last_used = match iam.last_used(&key.id).await {
            Ok(u) => u,
            Err(e) => return failed("the key's last use", e, claims(bound_to)),
        };
        // Whether its consumers have moved: asked only while the replaced key is Active, and
        // only of a current key that is the user's.
        let current = candidate
            .bound_secret(bound_to)
            .and_then(|s| s.current_key.as_deref())
            .filter(|c| key.is_active() && keys.iter().any(|k| k.id == *c));
        let current_last_used = match current {
            Some(c) => match iam.last_used(c).await {
                Ok(u) => u.date,
                Err(e) => return failed("the current key's last use", e, claims(bound_to)),
            },
            None => None,
        };
        let decision = sweep_decision(
            key,
            candidate,
            &SweepFacts {
                user_arn: &user.arn,
                binding: bound_to,
                own_keys: user.tag(binding::OWN_KEYS_TAG),
                switched: user.tag(binding::SWITCHED_TAG),
                keys: &keys,
                last_used: last_used.date,
                current_last_used,
                deactivated_at: binding::deactivated_at(
                    user.tag(binding::DEACTIVATED_TAG),
                    &key.id,
                ),
            },
            &self.sweep_policy(),
        );
        (decision, Some(last_used), claims(bound_to))
    }
}

/// ` (last used 2027-01-15T08:00:00Z by s3 in us-east-1)`.
fn describe_use(u: &LastUse) -> String {
    let Some(at) = u.date else {
        return String::new();
    };
    let mut s = format!(" (last used {}", rfc3339(at));
    if let Some(service) = &u.service {
        s.push_str(&format!(" by {service}"));
    }
    if let Some(region) = &u.region {
        s.push_str(&format!(" in {region}"));
    }
    s.push(')');
    s
}
