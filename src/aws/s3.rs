//! S3 calls: storing one object.

use crate::aws::error::AwsError;

/// PutObject of `body` at `key` in `bucket`.
pub async fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), AwsError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body.into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("s3:PutObject", e))?;
    Ok(())
}
