//! The sweep: what happens to a replaced key once the rotation is done. It re-reads the facts
//! right before any change (GetUser for the binding, ListAccessKeys, GetAccessKeyLastUsed),
//! deactivates an idle key, deletes it after the grace period, and announces each action.

use super::report::{Action, Finding};
use super::verdict::iam::Claim;
use super::verdict::iam::SecretIndex;
use super::verdict::sweep::{
    self, sweep_candidate, sweep_decision, Candidate, Sweep, SweepFacts, SweepPolicy,
};
use super::verdict::Verdict;
use super::{Account, Run};
use crate::aws::error::AwsError;
use crate::aws::iam::{AccessKey, Iam, LastUse};
use crate::aws::sns::{Notice, NoticeKind};
use crate::time::rfc3339;
use tracing::warn;

impl Run<'_> {
    /// Applies the sweep to one key's finding (when SWEEP is on and the key is a replaced key
    /// of a rotation secret).
    pub(super) async fn sweep(
        &self,
        account: &Account,
        iam: &Iam,
        key: &AccessKey,
        index: Option<&SecretIndex>,
        mut finding: Finding,
    ) -> Finding {
        if !self.config().sweep || self.out_of_time() {
            return finding;
        }
        let Some(index) = index else { return finding };
        let (decision, last_use, claims) = match sweep_candidate(key, index) {
            Sweep::Check(candidate) => self.sweep_check(iam, key, &candidate).await,
            other => (other, None, Vec::new()),
        };
        // Key-id tags of a secret the key's user is not bound to: whoever can tag a secret can
        // write them. Said, never acted on.
        for claim in &claims {
            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                  secret_id = %claim.secret_arn, stage = claim.stage,
                  "a secret the key's user is not bound to claims the key; the claim changes nothing");
            finding.reason.push_str(&format!(
                "; secret {} names it as its {} key, a claim that changes nothing (its user is not bound to that secret)",
                claim.secret_arn, claim.stage
            ));
        }
        let idle = sweep::hours(self.sweep_policy().idle_secs);
        let notice = |kind: NoticeKind, secret_arn: &str, reason: String| Notice {
            kind,
            account: account.id.clone(),
            secret: secret_arn.to_owned(),
            user: Some(key.user.clone()),
            key_ids: vec![key.id.clone()],
            reason,
        };
        let notice = match decision {
            Sweep::NotReplaced | Sweep::Check(_) => None,
            Sweep::Keep(why) => {
                finding.reason.push_str(&format!("; not swept: {why}"));
                None
            }
            Sweep::InUse {
                secret_arn,
                replaced_at,
                overdue,
            } => {
                let used = last_use.as_ref().map_or_else(String::new, describe_use);
                finding.reason.push_str(&format!(
                    "; still in use after its replacement on {}{used}",
                    rfc3339(replaced_at)
                ));
                overdue.then(|| {
                    finding.verdict = Verdict::NonCompliant;
                    finding.reason.push_str(&format!(
                        "; past its {idle} idle window by more than {} days: find the consumer and move it to the current key",
                        self.config().old_key_grace_days
                    ));
                    notice(NoticeKind::ReplacedKeyStillInUse, &secret_arn, format!(
                        "replaced on {} and still in use{used}, past its {idle} idle window by more than {} days",
                        rfc3339(replaced_at),
                        self.config().old_key_grace_days
                    ))
                })
            }
            Sweep::Deactivate {
                secret_arn,
                idle_since,
            } => {
                let detail = format!(
                    "replaced by a rotation of secret {secret_arn}, unused since {} ({idle} or more)",
                    rfc3339(idle_since)
                );
                warn!(account = account.label(), user = %key.user, key_id = %key.id,
                      secret_id = %secret_arn, previous_status = "Active",
                      idle_since = %rfc3339(idle_since), "deactivating replaced access key");
                let result = iam.set_active(&key.user, &key.id, false).await;
                match result {
                    Ok(()) => {
                        // The grace period before deletion counts from here.
                        let record = format!("{}:{}", key.id, self.iam_policy.now);
                        if let Err(e) = iam
                            .tag_user(&key.user, &[(crate::binding::DEACTIVATED_TAG, record)])
                            .await
                        {
                            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                                  error = %e, "the deactivation could not be recorded on the user; its grace period will count from the end of its idle window");
                        }
                        finding.reason.push_str("; deactivated by the sweep");
                        finding.action = Some(Action {
                            action: "UpdateAccessKey",
                            succeeded: true,
                            detail: detail.clone(),
                        });
                        Some(notice(
                            NoticeKind::ReplacedKeyDeactivated,
                            &secret_arn,
                            detail,
                        ))
                    }
                    Err(e) => {
                        warn!(account = account.label(), user = %key.user, key_id = %key.id,
                              error = %e, "the sweep could not deactivate the replaced key");
                        finding.action = Some(Action {
                            action: "UpdateAccessKey",
                            succeeded: false,
                            detail: format!(
                                "{detail}; deactivation failed ({})",
                                e.code_or_message()
                            ),
                        });
                        None
                    }
                }
            }
            Sweep::Delete { secret_arn, since } => {
                let detail = format!(
                    "replaced by a rotation of secret {secret_arn}, inactive since {}, more than {} days ago",
                    rfc3339(since),
                    self.config().old_key_grace_days
                );
                warn!(account = account.label(), user = %key.user, key_id = %key.id,
                      secret_id = %secret_arn, previous_status = "Inactive",
                      inactive_since = %rfc3339(since), "deleting replaced access key");
                let result = iam.delete_key(&key.user, &key.id).await;
                match result {
                    Ok(_) => {
                        finding.reason.push_str("; deleted by the sweep");
                        finding.action = Some(Action {
                            action: "DeleteAccessKey",
                            succeeded: true,
                            detail: detail.clone(),
                        });
                        Some(notice(NoticeKind::ReplacedKeyDeleted, &secret_arn, detail))
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
        };
        if let (Some(n), Some(notifier)) = (notice, &self.auditor.notifier) {
            notifier.publish(&n).await;
        }
        finding
    }

    pub(super) fn sweep_policy(&self) -> SweepPolicy {
        SweepPolicy {
            idle_secs: i64::try_from(self.config().old_key_idle.as_secs()).unwrap_or(i64::MAX),
            grace_days: self.config().old_key_grace_days,
            now: self.iam_policy.now,
        }
    }

    /// Reads what decides a sweep candidate's fate, right before any change: the user's binding,
    /// the keys the rotator recorded as its own and the deactivation record (GetUser), its keys
    /// now (ListAccessKeys) and the key's last use (GetAccessKeyLastUsed). Also returns the
    /// claims on the key of secrets the user is not bound to (all of them when the user cannot
    /// be read).
    pub(super) async fn sweep_check(
        &self,
        iam: &Iam,
        key: &AccessKey,
        candidate: &Candidate,
    ) -> (Sweep, Option<LastUse>, Vec<Claim>) {
        let claims = |binding: Option<&str>| candidate.foreign_claims(binding).cloned().collect();
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
        let binding = user.tag(crate::binding::BINDING_TAG);
        let keys = match iam.list_keys(&key.user).await {
            Ok(k) => k,
            Err(e) => return failed("the user's keys", e, claims(binding)),
        };
        let last_used = match iam.last_used(&key.id).await {
            Ok(u) => u,
            Err(e) => return failed("the key's last use", e, claims(binding)),
        };
        let decision = sweep_decision(
            key,
            candidate,
            &SweepFacts {
                user_arn: &user.arn,
                binding,
                own_keys: user.tag(crate::binding::OWN_KEYS_TAG),
                keys: &keys,
                last_used: last_used.date,
                deactivated_at: crate::binding::deactivated_at(
                    user.tag(crate::binding::DEACTIVATED_TAG),
                    &key.id,
                ),
            },
            &self.sweep_policy(),
        );
        (decision, Some(last_used), claims(binding))
    }
}

/// `: last used 2027-01-15T08:00:00Z by s3 in us-east-1`.
fn describe_use(u: &LastUse) -> String {
    let Some(at) = u.date else {
        return String::new();
    };
    let mut s = format!(": last used {}", rfc3339(at));
    if let Some(service) = &u.service {
        s.push_str(&format!(" by {service}"));
    }
    if let Some(region) = &u.region {
        s.push_str(&format!(" in {region}"));
    }
    s
}
