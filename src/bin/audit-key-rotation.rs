//! Lambda entry point: KMS key rotation and IAM access-key age audit.

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_key_rotation::logging::init();
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Err::<Value, Diagnostic>(Diagnostic {
            error_type: "Audit.NotImplemented".into(),
            error_message: "the audit is not implemented yet".into(),
        })
    }))
    .await
}
