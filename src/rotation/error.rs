//! Errors of the rotation function. Each names the secret, the step and the token, carries the
//! AWS error where there is one, and maps to a stable Lambda `errorType`. None holds a secret
//! value: ids and AWS error codes only.

use super::event::{Action, EventError, Step};
use crate::aws::error::AwsError;
use crate::secret::SecretFormatError;
use lambda_runtime::Diagnostic;
use thiserror::Error;

/// What went wrong, independent of which secret and step it happened in.
#[derive(Debug, Error)]
pub enum ErrorKind {
    #[error("invalid rotation event: {0}")]
    InvalidEvent(#[from] EventError),
    #[error("rotation is not enabled on the secret")]
    RotationDisabled,
    #[error("the secret cannot be read: {0}")]
    SecretNotFound(#[source] AwsError),
    #[error("the token is not a version of the secret")]
    UnknownVersion,
    #[error("the token's version is not AWSPENDING (its stages: {stages:?})")]
    NotPending { stages: Vec<String> },
    #[error("the secret has no AWSCURRENT version")]
    NoCurrentVersion,
    #[error("the AWSPENDING version of the token has no value: createSecret has not completed")]
    PendingValueMissing,
    #[error("the {stage} value cannot be used: {source}")]
    InvalidSecret {
        stage: &'static str,
        #[source]
        source: SecretFormatError,
    },
    #[error("the {stage} value has no AccessKeyId/SecretAccessKey")]
    IncompleteKey { stage: &'static str },
    #[error("IAM user {user:?} does not exist (or is not visible to the rotation role): {source}")]
    UserNotFound {
        user: String,
        #[source]
        source: AwsError,
    },
    #[error("cannot assume role {role:?}: {source}")]
    AssumeRole {
        role: String,
        #[source]
        source: AwsError,
    },
    #[error("the secret's RoleArn {0:?} is not an IAM role ARN")]
    InvalidRoleArn(String),
    #[error(
        "IAM user {user:?} has no free access-key slot and {keys:?} {} not known to the secret; \
         nothing was changed. Delete {} yourself, or have an IAM administrator tag the user \
         KeyRotationDeleteOtherKeys=true, or set UNMANAGED_KEY_ACTION=delete",
        if .keys.len() == 1 { "is" } else { "are" },
        if .keys.len() == 1 { "it" } else { "them" }
    )]
    UnmanagedKey { user: String, keys: Vec<String> },
    #[error(
        "IAM user {user:?}: the key {key:?}, which this secret no longer holds as AWSCURRENT, is \
         still Active and was used at {last_used}; nothing was changed. Find its user, then \
         deactivate it"
    )]
    PreviousKeyInUse {
        user: String,
        key: String,
        last_used: String,
    },
    #[error(
        "IAM user {user} is not bound to secret {secret}: its tag {tag} {}; nothing was changed. \
         Only an IAM administrator can bind a user, with the tag {tag} set to the secret's full \
         ARN. A secret that names a user not bound to it may be an attempt to redirect the \
         rotator to another user's keys: check who wrote the secret's value",
        .binding.describe(.found.as_deref())
    )]
    UserNotBound {
        /// The user's ARN.
        user: String,
        secret: String,
        tag: &'static str,
        found: Option<String>,
        binding: crate::binding::Binding,
    },
    #[error(
        "the rotation's intent cannot be recorded on IAM user {user:?} ({source}); nothing was \
         changed. The user may carry IAM's maximum of 50 tags (remove one), or the rotation role \
         may lack iam:TagUser for the tag {tag}"
    )]
    IntentNotRecorded {
        user: String,
        tag: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("IAM user {user:?} already has the maximum number of access keys: {source}")]
    KeyLimit {
        user: String,
        #[source]
        source: AwsError,
    },
    #[error("the pending access key {key:?} does not exist for IAM user {user:?}")]
    PendingKeyMissing { user: String, key: String },
    #[error("the pending access key {key:?} of IAM user {user:?} is Inactive")]
    PendingKeyInactive { user: String, key: String },
    #[error(
        "AWSCURRENT was not moved: the pending access key {key:?} of IAM user {user:?} {why}; \
         nothing was changed"
    )]
    PendingKeyNotUsable {
        user: String,
        key: String,
        why: &'static str,
    },
    #[error(
        "operator actions are refused by the rotation function: send Status, Rollback and Cancel \
         to the operator function (OPERATOR_ACTIONS=true); nothing was read or changed"
    )]
    OperatorActionsDisabled,
    #[error(
        "the operator function takes Status, Rollback and Cancel only: rotation steps go to the \
         rotation function that Secrets Manager invokes; nothing was read or changed"
    )]
    StepsDisabled,
    #[error("the pending key authenticates as {actual:?}, not as {expected}")]
    IdentityMismatch { expected: String, actual: String },
    #[error(
        "the pending key {key:?} was not accepted by STS after {attempts} attempts in {waited_ms} ms: {last}"
    )]
    TestTimedOut {
        key: String,
        attempts: u32,
        waited_ms: u128,
        #[source]
        last: AwsError,
    },
    #[error("refused, nothing was changed: {0}")]
    ActionRefused(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ErrorKind {
    /// The stable `errorType` the Lambda reports for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent(_) => "Rotation.InvalidEvent",
            ErrorKind::RotationDisabled => "Rotation.RotationDisabled",
            ErrorKind::SecretNotFound(_) => "Rotation.SecretNotFound",
            ErrorKind::UnknownVersion => "Rotation.UnknownVersion",
            ErrorKind::NotPending { .. } | ErrorKind::NoCurrentVersion => "Rotation.InvalidStage",
            ErrorKind::PendingValueMissing => "Rotation.PendingValueMissing",
            ErrorKind::InvalidSecret { .. } | ErrorKind::IncompleteKey { .. } => {
                "Rotation.InvalidSecret"
            }
            ErrorKind::UserNotFound { .. } => "Rotation.UserNotFound",
            ErrorKind::AssumeRole { .. } | ErrorKind::InvalidRoleArn(_) => {
                "Rotation.AssumeRoleFailed"
            }
            ErrorKind::UnmanagedKey { .. } => "Rotation.UnmanagedKey",
            ErrorKind::PreviousKeyInUse { .. } => "Rotation.KeyInUse",
            ErrorKind::UserNotBound { .. } => "Rotation.UserNotBound",
            ErrorKind::IntentNotRecorded { .. } => "Rotation.IntentNotRecorded",
            ErrorKind::KeyLimit { .. } => "Rotation.KeyLimitExceeded",
            ErrorKind::PendingKeyMissing { .. } => "Rotation.PendingKeyMissing",
            ErrorKind::PendingKeyInactive { .. } | ErrorKind::PendingKeyNotUsable { .. } => {
                "Rotation.PendingKeyInactive"
            }
            ErrorKind::OperatorActionsDisabled => "Rotation.OperatorActionsDisabled",
            ErrorKind::StepsDisabled => "Rotation.StepsDisabled",
            ErrorKind::IdentityMismatch { .. } => "Rotation.IdentityMismatch",
            ErrorKind::TestTimedOut { .. } => "Rotation.TestTimeout",
            ErrorKind::ActionRefused(_) => "Rotation.ActionRefused",
            ErrorKind::Aws(e) if e.retryable => "Rotation.Retryable",
            ErrorKind::Aws(_) => "Rotation.AwsError",
        }
    }
}

/// A failed invocation: which secret, step and token, and why.
#[derive(Debug, Error)]
#[error("{step} failed for secret {secret:?} (token {token:?}): {kind}")]
pub struct RotationError {
    pub secret: String,
    pub step: StepName,
    pub token: String,
    #[source]
    pub kind: ErrorKind,
}

/// The step or action as named in the event, or `event` when the event itself was unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepName {
    Step(Step),
    Action(Action),
    Event,
}

impl std::fmt::Display for StepName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepName::Step(s) => write!(f, "{s}"),
            StepName::Action(a) => write!(f, "{a}"),
            StepName::Event => f.write_str("rotation event"),
        }
    }
}

impl RotationError {
    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }
}

impl From<RotationError> for Diagnostic {
    fn from(e: RotationError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}
