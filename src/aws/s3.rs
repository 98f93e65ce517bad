//! S3 calls: storing one object.

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_s3::Client;

/// An S3 client and the lane its calls go through.
#[derive(Debug, Clone)]
pub struct S3 {
    client: Client,
    lane: Lane,
}

impl From<Client> for S3 {
    fn from(client: Client) -> Self {
        Self {
            client,
            lane: Lane::direct(),
        }
    }
}

impl S3 {
    /// PutObject of `body` at `key` in `bucket`, which must belong to `expected_owner` (an
    /// account id): a bucket name is only a name, and whoever creates a deleted bucket's name
    /// again would otherwise receive what is written to it. S3 refuses the write (403) when the
    /// bucket has another owner.
    pub async fn put_object(
        &self,
        bucket: &str,
        expected_owner: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .expected_bucket_owner(expected_owner)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send();
        self.lane.send("s3:PutObject", request).await?;
        Ok(())
    }
}
