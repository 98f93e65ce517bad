// The audit's nested futures (per account, region, export) outgrow rustc's default layout depth.
#![recursion_limit = "256"]
//! Lambda entry point: KMS key rotation and IAM access-key age audit.

use aws_key_rotation::audit::config::AuditConfig;
use aws_key_rotation::audit::Auditor;
use aws_key_rotation::aws::AuditAws;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_key_rotation::logging::init();
    let config = AuditConfig::from_env()?;
    let sdk_config = aws_key_rotation::aws::sdk_config().await?;
    let auditor = Auditor::new(AuditAws::new(&sdk_config), config);
    let auditor = &auditor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        auditor
            .handle_invocation(
                event.payload,
                event.context.deadline,
                &event.context.request_id,
            )
            .await
    }))
    .await
}
