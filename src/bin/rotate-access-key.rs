//! Lambda entry point: Secrets Manager rotation of one IAM user's access key, and the
//! operator actions Status, Rollback and Cancel.

use aws_key_rotation::aws::sns::Notifier;
use aws_key_rotation::aws::Clients;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::Rotator;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_key_rotation::logging::init();
    let config = RotationConfig::from_env()?;
    let sdk_config = aws_key_rotation::aws::sdk_config().await?;
    let notifier = config
        .shared
        .notify_topic_arn
        .as_deref()
        .map(|topic| Notifier::new(&sdk_config, topic));
    let mut rotator = Rotator::new(Clients::new(&sdk_config), config);
    if let Some(n) = notifier {
        rotator = rotator.with_notifier(n);
    }
    let rotator = &rotator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        rotator
            .handle_invocation(
                event.payload,
                event.context.deadline,
                &event.context.request_id,
            )
            .await
            // The error was logged with its context; the runtime reports errorType and message.
            .map_err(Diagnostic::from)
    }))
    .await
}
