//! The fan-out of a scheduled audit (`AUDIT_FANOUT_QUEUE_URL`): instead of auditing every
//! account in one invocation, it sends one SQS message per account; the queue invokes this
//! function once per message, and each invocation audits one account in full, with Lambda's
//! whole 15 minutes, its own retries and, past them, the queue's dead-letter queue.

use super::context::Ctx;
use super::events::FanOutMessage;
use super::report::Finding;
use tracing::{info, warn};

impl Ctx<'_> {
    /// Sends one message per account of a full audit; returns the accounts queued, and an
    /// ERROR finding for each account that could not be.
    pub(super) async fn fan_out(&self, queue_url: &str) -> (Vec<String>, Vec<Finding>) {
        let mut findings = Vec::new();
        let ids = self.account_ids(&mut findings).await;
        let Some(queue) = &self.aws.sqs else {
            findings.push(Finding::scope_error(
                "sqs:SendMessageBatch",
                None,
                None,
                "AUDIT_FANOUT_QUEUE_URL is set but no SQS client was built: nothing audited"
                    .to_owned(),
                None,
            ));
            return (Vec::new(), findings);
        };
        let messages: Vec<(String, String)> = ids
            .iter()
            .map(|id| {
                let body = FanOutMessage {
                    audit_account: id.clone(),
                };
                (
                    id.clone(),
                    serde_json::to_string(&body).expect("a struct of strings"),
                )
            })
            .collect();
        let refused = queue
            .through(self.own_lane("sqs"))
            .send_all(queue_url, &messages)
            .await;
        for (id, why) in &refused {
            warn!(account = %id, why = %why, "account not queued for its audit");
            findings.push(Finding::scope_error(
                "sqs:SendMessageBatch",
                Some(id),
                None,
                format!("account {id} could not be queued for its audit ({why}); it is not audited in this run"),
                Some(why),
            ));
        }
        let queued: Vec<String> = ids
            .into_iter()
            .filter(|id| !refused.iter().any(|(r, _)| r == id))
            .collect();
        info!(
            accounts = queued.len(),
            "audit fanned out, one message per account"
        );
        (queued, findings)
    }
}
