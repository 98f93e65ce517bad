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
    assume_role_tagged(client, role_arn, external_id, session_name, &[]).await
}

/// Temporary credentials of `role_arn` whose session carries `tags` (session tags: the role's
/// policies read them as `aws:PrincipalTag/<key>`, and the role's trust policy must allow
/// `sts:TagSession`).
pub async fn assume_role_tagged(
    client: &Client,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
    tags: &[(&str, &str)],
) -> Result<Credentials, AwsError> {
    let tags = tags
        .iter()
        .map(|(k, v)| aws_sdk_sts::types::Tag::builder().key(*k).value(*v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            AwsError::from_sdk::<aws_sdk_sts::operation::assume_role::AssumeRoleError>(
                "sts:AssumeRole",
                aws_smithy_runtime_api::client::result::SdkError::construction_failure(e),
            )
        })?;
    let out = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .set_external_id(external_id.map(str::to_owned))
        .set_tags((!tags.is_empty()).then_some(tags))
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
    // The credentials are never printed: `Credentials`' Debug redacts the secret parts.
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
