//! An SNS topic whose messages land in an SQS queue (raw delivery), for tests that check the
//! notifications the functions publish.

use super::env::unsigned_endpoint;
use super::moto::sdk_config_at;
use aws_config::SdkConfig;
use aws_key_rotation::aws::sns::Notifier;
use serde_json::Value;

/// The moto server that checks no signature: moto refuses the signature of an SNS Publish whose
/// text has a space.
pub fn unsigned_config(region: &str) -> SdkConfig {
    let credentials = aws_sdk_sts::config::Credentials::new(
        "AKIAUNSIGNED",
        "unsigned",
        None,
        None,
        "moto-unsigned",
    );
    sdk_config_at(&unsigned_endpoint(), region, credentials)
}

/// A topic on the unsigned moto server, its inbox, and a notifier publishing to it.
pub async fn notifier_with_inbox(region: &str, name: &str) -> (Notifier, Inbox, String) {
    let config = unsigned_config(region);
    let (topic, inbox) = topic_with_inbox(&config, name).await;
    let notifier = Notifier::with_client(aws_sdk_sns::Client::new(&config), &topic);
    (notifier, inbox, topic)
}

/// Creates the queue `name`; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue URL")
        .to_owned()
}

/// The queue behind a topic.
pub struct Inbox {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

/// Creates a topic named `name` and a queue subscribed to it; returns the topic's ARN.
pub async fn topic_with_inbox(config: &SdkConfig, name: &str) -> (String, Inbox) {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let topic_arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("topic ARN")
        .to_owned();
    let queue_url = create_queue(&sqs, name).await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue ARN");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("Subscribe");
    (topic_arn, Inbox { sqs, queue_url })
}

impl Inbox {
    /// The queue at `queue_url`.
    pub fn of(sqs: aws_sdk_sqs::Client, queue_url: &str) -> Self {
        Self {
            sqs,
            queue_url: queue_url.to_owned(),
        }
    }

    /// Every message waiting, parsed as JSON, removed from the queue.
    pub async fn take(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = got.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
}
