//! STS calls: AssumeRole (cross-account IAM, the key-writer session, the audit's member
//! accounts), AssumeRoot (a privileged session in a member account, scoped by an AWS task
//! policy) and GetCallerIdentity (who a set of credentials, or an access key, signs as).

use crate::aws::error::AwsError;
use crate::aws::gate::Lane;
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::Client;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, SystemTime};

/// The temporary credentials of an assumed role. They never leave `aws/`: an adapter is built
/// over them ([`crate::aws::iam::Iam::in_session`], the audit's per-account clients). Debug
/// output redacts the secret parts.
#[derive(Clone, Debug)]
pub struct Session(Credentials);

impl Session {
    /// When the credentials expire, if AWS said.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.0.expiry()
    }

    pub fn access_key_id(&self) -> &str {
        self.0.access_key_id()
    }

    /// The SDK credentials (tests build clients of their own from them).
    pub fn credentials(&self) -> &Credentials {
        &self.0
    }

    /// The session STS answered to `op` (AssumeRole, AssumeRoot). The credentials are never
    /// printed: `Credentials`' Debug redacts the secret parts.
    fn from_answer(
        op: &'static str,
        answer: Option<&aws_sdk_sts::types::Credentials>,
        source: &'static str,
    ) -> Result<Self, AwsError> {
        let c = answer.ok_or_else(|| AwsError::invalid(op, "STS answered without credentials"))?;
        Ok(Session(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            SystemTime::try_from(*c.expiration()).ok(),
            source,
        )))
    }
}

/// An STS client and the lane its calls go through.
#[derive(Clone, Debug)]
pub struct Sts {
    client: Client,
    lane: Lane,
}

impl From<Client> for Sts {
    fn from(client: Client) -> Self {
        Self::new(client)
    }
}

impl Sts {
    /// Calls that go straight to STS.
    pub fn new(client: Client) -> Self {
        Self::on(client, Lane::direct())
    }

    pub fn on(client: Client, lane: Lane) -> Self {
        Self { client, lane }
    }

    /// The same client through another lane.
    pub fn through(&self, lane: Lane) -> Self {
        Self::on(self.client.clone(), lane)
    }

    /// Temporary credentials of `role_arn`.
    pub async fn assume_role(
        &self,
        role_arn: &str,
        external_id: Option<&str>,
        session_name: &str,
    ) -> Result<Session, AwsError> {
        self.assume_role_tagged(role_arn, external_id, session_name, &[])
            .await
    }

    /// Temporary credentials of `role_arn` whose session carries `tags` (session tags: the
    /// role's policies read them as `aws:PrincipalTag/<key>`, and the role's trust policy must
    /// allow `sts:TagSession`).
    pub async fn assume_role_tagged(
        &self,
        role_arn: &str,
        external_id: Option<&str>,
        session_name: &str,
        tags: &[(&str, &str)],
    ) -> Result<Session, AwsError> {
        let op = "sts:AssumeRole";
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_sts::types::Tag::builder().key(*k).value(*v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsError::invalid(op, e))?;
        let request = self
            .client
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .set_external_id(external_id.map(str::to_owned))
            .set_tags((!tags.is_empty()).then_some(tags))
            .duration_seconds(900)
            .send();
        let out = self.lane.send(op, request).await?;
        Session::from_answer(op, out.credentials(), "AssumeRole")
    }

    /// A privileged root session in the member account `account` (AssumeRoot, 15 minutes),
    /// scoped to the AWS managed task policy `task_policy_arn`. Needs centralized root access
    /// in the Organization and a caller in its management or IAM delegated-administrator
    /// account. Like [`Self::assume_role`], the credentials stay here: an adapter is built over
    /// them ([`crate::aws::iam::Iam::in_session`]).
    pub async fn assume_root(
        &self,
        account: &str,
        task_policy_arn: &str,
    ) -> Result<Session, AwsError> {
        let op = "sts:AssumeRoot";
        let policy = aws_sdk_sts::types::PolicyDescriptorType::builder()
            .arn(task_policy_arn)
            .build();
        let request = self
            .client
            .assume_root()
            .target_principal(account)
            .task_policy_arn(policy)
            .duration_seconds(900)
            .send();
        let out = self.lane.send(op, request).await?;
        Session::from_answer(op, out.credentials(), "AssumeRoot")
    }

    /// The ARN the client's own credentials authenticate as.
    pub async fn caller_arn(&self) -> Result<String, AwsError> {
        let out = self
            .lane
            .send(
                "sts:GetCallerIdentity",
                self.client.get_caller_identity().send(),
            )
            .await?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }

    /// The identity the access key `key_id` with secret `secret` signs as (GetCallerIdentity
    /// signed with that key, through this client's region, endpoint and retry settings), the
    /// call ending within `timeout`.
    pub async fn identity_of(
        &self,
        key_id: &str,
        secret: &SecretString,
        timeout: Duration,
    ) -> Result<String, AwsError> {
        let credentials =
            Credentials::new(key_id, secret.expose_secret(), None, None, "access-key");
        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .build();
        let client = Client::from_conf(
            self.client
                .config()
                .to_builder()
                .credentials_provider(credentials)
                .timeout_config(timeouts)
                .build(),
        );
        Self::on(client, self.lane.clone()).caller_arn().await
    }
}
