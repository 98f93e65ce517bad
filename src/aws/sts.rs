//! STS calls: AssumeRole for cross-account IAM, GetCallerIdentity to test a key.

use crate::aws::error::AwsError;
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::Client;

/// Temporary credentials of `role_arn`.
pub async fn assume_role(
    client: &Client,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
) -> Result<Credentials, AwsError> {
    let out = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .set_external_id(external_id.map(str::to_owned))
        .duration_seconds(900)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sts:AssumeRole", e))?;
    let c = out.credentials().ok_or_else(|| {
        AwsError::from_sdk::<aws_sdk_sts::operation::assume_role::AssumeRoleError>(
            "sts:AssumeRole",
            aws_smithy_runtime_api::client::result::SdkError::construction_failure(
                "AssumeRole answered without credentials",
            ),
        )
    })?;
    let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        "AssumeRole",
    ))
}

/// The ARN the client's credentials authenticate as.
pub async fn caller_arn(client: &Client) -> Result<String, AwsError> {
    let out = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sts:GetCallerIdentity", e))?;
    Ok(out.arn().unwrap_or_default().to_owned())
}
