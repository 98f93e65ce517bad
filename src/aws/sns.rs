//! Notifications: one SNS message per event (a replaced key deactivated, deleted, still in use
//! past its window or due for its hard stop; a Rollback; a Cancel), as EventBridge-shaped JSON.
//! Never a secret value. Publishing is best effort: a failure is logged at WARN and never fails
//! the work it reports.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

/// The `source` of every message.
pub const SOURCE: &str = "aws-key-rotation";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoticeKind {
    ReplacedKeyDeactivated,
    ReplacedKeyDeleted,
    ReplacedKeyStillInUse,
    /// A replaced key still Active less than a day before `OLD_KEY_FORCE_DAYS` after the switch,
    /// when the sweep deactivates it whatever its use.
    ReplacedKeyHardStopTomorrow,
    RotationRolledBack,
    RotationCancelled,
    /// An honoured rotation exemption entering its last 14 days (`KeyRotationExemptUntil`).
    ExemptionExpiringSoon,
    /// The root user's access keys of a member account deleted through a privileged session
    /// (`remove-root-keys`).
    RootAccessKeysDeleted,
}

impl NoticeKind {
    /// The message's `detail-type` (and SNS subject).
    pub fn detail_type(self) -> &'static str {
        match self {
            NoticeKind::ReplacedKeyDeactivated => "Replaced access key deactivated",
            NoticeKind::ReplacedKeyDeleted => "Replaced access key deleted",
            NoticeKind::ReplacedKeyStillInUse => "Replaced access key still in use",
            NoticeKind::ReplacedKeyHardStopTomorrow => {
                "Replaced access key to be deactivated within a day"
            }
            NoticeKind::RotationRolledBack => "Access key rotation rolled back",
            NoticeKind::RotationCancelled => "Access key rotation cancelled",
            NoticeKind::ExemptionExpiringSoon => "Key rotation exemption expiring in 14 days",
            NoticeKind::RootAccessKeysDeleted => "Root user access keys deleted",
        }
    }
}

/// One event to announce: names and key ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub account: Option<String>,
    /// The rotation secret it concerns (`None`: an exemption, or a root user's keys, which no
    /// secret holds).
    pub secret: Option<String>,
    pub user: Option<String>,
    pub key_ids: Vec<String>,
    pub reason: String,
}

impl Notice {
    /// The message body: `{"source", "detail-type", "time", "account", "detail"}`.
    pub fn message(&self, time: &str) -> serde_json::Value {
        json!({
            "version": "0",
            "source": SOURCE,
            "detail-type": self.kind.detail_type(),
            "time": time,
            "account": self.account,
            "detail": {
                "event": self.kind,
                "secret": self.secret,
                "user": self.user,
                "keyIds": self.key_ids,
                "reason": self.reason,
            }
        })
    }
}

/// An SNS client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct Sns {
    client: aws_sdk_sns::Client,
    lane: Lane,
}

impl From<aws_sdk_sns::Client> for Sns {
    fn from(client: aws_sdk_sns::Client) -> Self {
        Self {
            client,
            lane: Lane::direct(),
        }
    }
}

impl Sns {
    pub fn new(sdk_config: &SdkConfig) -> Self {
        aws_sdk_sns::Client::new(sdk_config).into()
    }

    /// Publish of `message` to `topic_arn`, with `subject` and the string attribute `event`.
    pub async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: String,
        event: String,
    ) -> Result<(), AwsError> {
        let op = "sns:Publish";
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event)
            .build()
            .map_err(|e| AwsError::invalid(op, e))?;
        let request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .message_attributes("event", attribute)
            .send();
        self.lane.send(op, request).await?;
        Ok(())
    }
}

/// Publishes notices to one topic.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: Sns,
    topic_arn: String,
}

impl Notifier {
    pub fn new(sdk_config: &SdkConfig, topic_arn: &str) -> Self {
        Self::on(Sns::new(sdk_config), topic_arn)
    }

    pub fn with_client(client: aws_sdk_sns::Client, topic_arn: &str) -> Self {
        Self::on(client.into(), topic_arn)
    }

    pub fn on(sns: Sns, topic_arn: &str) -> Self {
        Self {
            sns,
            topic_arn: topic_arn.to_owned(),
        }
    }

    /// Publishes one notice; `false` (logged at WARN) when SNS refused or could not be reached.
    pub async fn publish(&self, notice: &Notice) -> bool {
        let body = notice.message(&crate::time::rfc3339(crate::time::now_secs()));
        let result = self
            .sns
            .publish(
                &self.topic_arn,
                notice.kind.detail_type(),
                body.to_string(),
                format!("{:?}", notice.kind),
            )
            .await;
        match result {
            Ok(()) => {
                info!(topic_arn = %self.topic_arn, event = ?notice.kind,
                      secret_id = notice.secret.as_deref().unwrap_or("-"),
                      account = notice.account.as_deref().unwrap_or("-"),
                      "notification published");
                true
            }
            Err(e) => {
                warn!(topic_arn = %self.topic_arn, event = ?notice.kind,
                      secret_id = notice.secret.as_deref().unwrap_or("-"),
                      account = notice.account.as_deref().unwrap_or("-"),
                      error = %e, "notification could not be published; continuing");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_eventbridge_shaped() {
        let n = Notice {
            kind: NoticeKind::ReplacedKeyDeactivated,
            account: Some("123456789012".into()),
            secret: Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf".into()),
            user: Some("alice".into()),
            key_ids: vec!["AKIAOLD".into()],
            reason: "unused for 24 hours".into(),
        };
        let m = n.message("2027-01-15T08:00:00Z");
        assert_eq!(m["source"], SOURCE);
        assert_eq!(m["detail-type"], "Replaced access key deactivated");
        assert_eq!(m["detail"]["event"], "ReplacedKeyDeactivated");
        assert_eq!(m["detail"]["keyIds"][0], "AKIAOLD");
        assert_eq!(m["account"], "123456789012");
    }
}
