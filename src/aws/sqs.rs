//! SQS: the messages a scheduled audit sends to fan its accounts out to other invocations.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;

/// An SQS client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Sqs {
    client: Client,
    lane: Lane,
}

impl From<Client> for Sqs {
    fn from(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }
}

impl Sqs {
    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    /// The same client through another lane.
    pub fn through(&self, lane: Lane) -> Self {
        Self::on(self.client.clone(), lane)
    }

    /// Sends `(id, body)` messages in batches of ten (SendMessageBatch's maximum), every batch
    /// even when one fails; returns the ids SQS did not take, each with the reason.
    pub async fn send_all(
        &self,
        queue_url: &str,
        messages: &[(String, String)],
    ) -> Vec<(String, String)> {
        let op = "sqs:SendMessageBatch";
        let mut refused = Vec::new();
        for batch in messages.chunks(10) {
            let entries = batch
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                        .map_err(|e| AwsError::invalid(op, e))
                })
                .collect::<Result<Vec<_>, _>>();
            let sent = match entries {
                Ok(entries) => {
                    let request = self
                        .client
                        .send_message_batch()
                        .queue_url(queue_url)
                        .set_entries(Some(entries))
                        .send();
                    self.lane.send(op, request).await
                }
                Err(e) => Err(e),
            };
            match sent {
                Ok(out) => refused.extend(
                    out.failed()
                        .iter()
                        .map(|f| (f.id().to_owned(), f.code().to_owned())),
                ),
                Err(e) => refused.extend(
                    batch
                        .iter()
                        .map(|(id, _)| (id.clone(), e.code_or_message())),
                ),
            }
        }
        refused
    }
}
