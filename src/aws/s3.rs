//! S3 calls: storing one object.

use crate::aws::error::AwsError;

/// PutObject of `body` at `key` in `bucket`, which must belong to `expected_owner` (an account
/// id): a bucket name is only a name, and whoever creates a deleted bucket's name again would
/// otherwise receive what is written to it. S3 refuses the write (403) when the bucket has
/// another owner.
pub async fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    expected_owner: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), AwsError> {
    client
        .put_object()
        .bucket(bucket)
        .expected_bucket_owner(expected_owner)
        .key(key)
        .content_type(content_type)
        .body(body.into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("s3:PutObject", e))?;
    Ok(())
}
