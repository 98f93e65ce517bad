// The rotation's nested futures (every AWS call under its lane) outgrow rustc's default layout depth.
#![recursion_limit = "256"]
//! Lambda entry point: Secrets Manager rotation of one IAM user's access key, and the
//! operator actions Status, Rollback and Cancel.

use aws_key_rotation::aws::RotationAws;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::Rotator;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_key_rotation::logging::init();
    let config = RotationConfig::from_env()?;
    let sdk_config = aws_key_rotation::aws::sdk_config().await?;
    let rotator = Rotator::new(RotationAws::new(&sdk_config), config);
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
