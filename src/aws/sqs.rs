//! SQS: the messages a scheduled audit sends to fan its accounts out to other invocations.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_runtime_api::client::result::SdkError;

/// Sends `(id, body)` messages in batches of ten (SendMessageBatch's maximum), every batch
/// even when one fails; returns the ids SQS did not take, each with the reason.
pub async fn send_all(
    client: &aws_sdk_sqs::Client,
    lane: &Lane,
    queue_url: &str,
    messages: &[(String, String)],
) -> Vec<(String, String)> {
    let mut refused = Vec::new();
    for batch in messages.chunks(10) {
        let entries = batch
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| {
                        AwsError::from_sdk::<SendMessageBatchError>(
                            "sqs:SendMessageBatch",
                            SdkError::construction_failure(e),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>();
        let sent = match entries {
            Ok(entries) => {
                let request = client
                    .send_message_batch()
                    .queue_url(queue_url)
                    .set_entries(Some(entries))
                    .send();
                lane.send("sqs:SendMessageBatch", request).await
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
