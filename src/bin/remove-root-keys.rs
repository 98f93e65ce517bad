// The nested futures of the SDK calls outgrow rustc's default layout depth.
#![recursion_limit = "256"]
//! Lambda entry point: the root user's access keys of the Organization's member accounts,
//! reported and, with `REMEDIATE_ROOT_KEYS=true`, deleted through a privileged root session.

use aws_key_rotation::aws::RootKeysAws;
use aws_key_rotation::root_keys::{RootKeyRemover, RootKeysConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_key_rotation::logging::init();
    let config = RootKeysConfig::from_env()?;
    let sdk_config = aws_key_rotation::aws::sdk_config().await?;
    let remover = RootKeyRemover::new(RootKeysAws::new(&sdk_config), config);
    let remover = &remover;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        remover
            .handle(event.payload, &event.context.request_id)
            .await
    }))
    .await
}
