//! The four-step rotation of one IAM user's access key (Secrets Manager's rotation contract).
//!
//! [`Rotator::handle`] validates the event, runs the guard, then one step function. Decisions
//! are pure functions in [`plan`] and [`guard`]; AWS calls go through [`crate::aws`].

mod create;
mod finish;
pub mod guard;
pub mod intent;
pub mod plan;
mod set;
mod test;

use crate::arn::Arn;
use crate::aws::iam::{self, UserInfo};
use crate::aws::secrets::{self, SecretMeta, SecretValue, AWSCURRENT, AWSPENDING};
use crate::aws::{sts, Clients};
use crate::binding::{self, SecretRef, BINDING_TAG};
use crate::config::RotationConfig;
use crate::error::{ErrorKind, RotationError, StepName};
use crate::event::{best_effort_ids, RotationEvent, Step};
use crate::metrics::{now_ms, RotationMetrics};
use crate::secret::{AccessKeySecret, SecretFormatError};
use guard::GuardOutcome;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::{error, info, warn};

/// Where the per-invocation EMF document goes (stdout in Lambda).
pub type MetricsSink = Arc<dyn Fn(&Value) + Send + Sync>;

pub struct Rotator {
    clients: Clients,
    config: RotationConfig,
    metrics_sink: MetricsSink,
}

/// One invocation's view: the validated event, the secret's metadata and counters.
pub(crate) struct Invocation<'a> {
    pub clients: &'a Clients,
    pub config: &'a RotationConfig,
    pub event: &'a RotationEvent,
    pub meta: &'a SecretMeta,
    pub metrics: &'a RotationMetrics,
    /// When the Lambda invocation ends, if known.
    pub deadline: Option<Instant>,
}

impl Rotator {
    pub fn new(clients: Clients, config: RotationConfig) -> Self {
        Self {
            clients,
            config,
            metrics_sink: Arc::new(|doc| println!("{doc}")),
        }
    }

    pub fn with_metrics_sink(mut self, sink: MetricsSink) -> Self {
        self.metrics_sink = sink;
        self
    }

    /// Runs one rotation step. `deadline_ms` is the invocation deadline (ms since the epoch,
    /// 0 if unknown), as the Lambda context gives it.
    pub async fn handle(&self, event: Value, deadline_ms: u64) -> Result<(), RotationError> {
        let event = match RotationEvent::parse(&event) {
            Ok(e) => e,
            Err(e) => {
                let (secret, token) = best_effort_ids(&event);
                let err = RotationError {
                    secret: secret.unwrap_or_default(),
                    step: StepName::Event,
                    token: token.unwrap_or_default(),
                    kind: e.into(),
                };
                error!(error_type = err.error_type(), error = %err, "rejected rotation event");
                self.emit(&RotationMetrics::default(), "invalid", false);
                return Err(err);
            }
        };
        let deadline = crate::time::deadline_from_epoch_ms(deadline_ms).map(Instant::from_std);
        let metrics = RotationMetrics::default();
        let result = self.run(&event, &metrics, deadline).await;
        self.emit(&metrics, event.step.as_str(), result.is_ok());
        result.map_err(|kind| {
            let err = RotationError {
                secret: event.secret_id.clone(),
                step: StepName::Step(event.step),
                token: event.token.clone(),
                kind,
            };
            error!(
                secret_id = ?event.secret_id,
                step = %event.step,
                token = ?event.token,
                error_type = err.error_type(),
                error = %err,
                "step failed"
            );
            err
        })
    }

    fn emit(&self, metrics: &RotationMetrics, step: &str, ok: bool) {
        (self.metrics_sink)(&metrics.to_emf(&self.config.metrics_namespace, step, ok, now_ms()));
    }

    async fn run(
        &self,
        event: &RotationEvent,
        metrics: &RotationMetrics,
        deadline: Option<Instant>,
    ) -> Result<(), ErrorKind> {
        let meta = secrets::describe(&self.clients.secrets, &event.secret_id)
            .await
            .map_err(|e| {
                if e.code_is("ResourceNotFoundException") || e.code_is("AccessDeniedException") {
                    ErrorKind::SecretNotFound(e)
                } else {
                    ErrorKind::Aws(e)
                }
            })?;
        let outcome = guard::check(&meta, &event.token, event.step)?;
        if outcome == GuardOutcome::AlreadyCurrent {
            info!(secret_id = %meta.arn, step = %event.step, token = ?event.token,
                  "version is already AWSCURRENT; nothing to do");
            return Ok(());
        }
        let inv = Invocation {
            clients: &self.clients,
            config: &self.config,
            event,
            meta: &meta,
            metrics,
            deadline,
        };
        match event.step {
            Step::CreateSecret => create::run(&inv).await,
            Step::SetSecret => set::run(&inv).await,
            Step::TestSecret => test::run(&inv).await,
            Step::FinishSecret => finish::run(&inv, outcome == GuardOutcome::ResumeFinish).await,
        }?;
        info!(secret_id = %meta.arn, step = %event.step, token = ?event.token, "step succeeded");
        Ok(())
    }
}

impl Invocation<'_> {
    pub fn arn(&self) -> &str {
        &self.meta.arn
    }

    pub fn token(&self) -> &str {
        &self.event.token
    }

    /// The parsed value of a version; `Ok(None)` when it has none.
    async fn read(
        &self,
        version: Option<&str>,
        stage: &'static str,
    ) -> Result<Option<AccessKeySecret>, ErrorKind> {
        let value =
            secrets::get_value(&self.clients.secrets, self.arn(), version, Some(stage)).await?;
        let invalid = |source| ErrorKind::InvalidSecret { stage, source };
        match value {
            None => Ok(None),
            Some(SecretValue::Binary) => Err(invalid(SecretFormatError::Binary)),
            Some(SecretValue::Text(text)) => AccessKeySecret::parse(text.expose_secret())
                .map(Some)
                .map_err(invalid),
        }
    }

    pub async fn read_current(&self) -> Result<AccessKeySecret, ErrorKind> {
        self.read(None, AWSCURRENT)
            .await?
            .ok_or(ErrorKind::NoCurrentVersion)
    }

    /// The value createSecret stored under this token; `None` if it has not yet.
    pub async fn read_pending(&self) -> Result<Option<AccessKeySecret>, ErrorKind> {
        self.read(Some(self.token()), AWSPENDING).await
    }

    pub async fn require_pending(&self) -> Result<AccessKeySecret, ErrorKind> {
        self.read_pending()
            .await?
            .ok_or(ErrorKind::PendingValueMissing)
    }

    /// The IAM client for the secret's user: through the secret's `RoleArn` when it has one.
    async fn iam_for(&self, secret: &AccessKeySecret) -> Result<aws_sdk_iam::Client, ErrorKind> {
        let Some(role) = &secret.role_arn else {
            return Ok(self.clients.iam.clone());
        };
        if Arn::parse(role).is_none_or(|a| a.service != "iam" || !a.resource.starts_with("role/")) {
            return Err(ErrorKind::InvalidRoleArn(role.clone()));
        }
        let session = session_name(self.token());
        let creds = sts::assume_role(
            &self.clients.sts,
            role,
            secret.external_id.as_deref(),
            &session,
        )
        .await
        .map_err(|source| ErrorKind::AssumeRole {
            role: role.clone(),
            source,
        })?;
        info!(secret_id = %self.arn(), step = %self.event.step, role_arn = %role, "assumed role for IAM calls");
        Ok(self.clients.iam_with(creds))
    }

    /// The secret's IAM user, once it is shown to be bound to this secret (the user tag
    /// `KeyRotationSecret`); every IAM read or write of a step goes through it.
    pub async fn bound_user(&self, secret: &AccessKeySecret) -> Result<BoundUser, ErrorKind> {
        let iam = self.iam_for(secret).await?;
        let info = iam::get_user(&iam, &secret.user_name)
            .await
            .map_err(|source| {
                if source.code_is("NoSuchEntity") {
                    ErrorKind::UserNotFound {
                        user: secret.user_name.clone(),
                        source,
                    }
                } else {
                    ErrorKind::Aws(source)
                }
            })?;
        let tag = info.tag(BINDING_TAG);
        let me = SecretRef {
            arn: self.arn(),
            name: &self.meta.name,
        };
        if !binding::is_bound(tag, &info.arn, me) {
            return Err(ErrorKind::UserNotBound {
                user: info.arn.clone(),
                secret: self.arn().to_owned(),
                tag: BINDING_TAG,
                found: tag.map(str::to_owned),
            });
        }
        Ok(BoundUser { iam, info })
    }

    /// The key ids the versions of this secret name, deprecated versions included. Versions
    /// whose value is not an access-key secret name nothing.
    pub async fn version_keys(&self) -> Result<HashSet<String>, ErrorKind> {
        let versions = secrets::list_versions(&self.clients.secrets, self.arn()).await?;
        let mut keys = HashSet::new();
        for (version, _) in versions.iter().filter(|(v, _)| v != self.token()) {
            let value =
                secrets::get_value(&self.clients.secrets, self.arn(), Some(version), None).await?;
            if let Some(SecretValue::Text(text)) = value {
                if let Some(id) = AccessKeySecret::parse(text.expose_secret())
                    .ok()
                    .and_then(|s| s.access_key_id)
                {
                    keys.insert(id);
                }
            }
        }
        Ok(keys)
    }

    /// Records key ids in the secret's tags, where the audit reads them without reading the
    /// value. Tags are the audit's hints only, so a failure is logged, never fatal.
    pub async fn record_tags(&self, set: &[(&str, &str)], remove: &[&str]) {
        if !set.is_empty() {
            if let Err(e) = secrets::tag(&self.clients.secrets, self.arn(), set).await {
                self.warn_best_effort("recording the key ids in the secret's tags", &e);
            }
        }
        if !remove.is_empty() {
            if let Err(e) = secrets::untag(&self.clients.secrets, self.arn(), remove).await {
                self.warn_best_effort("removing key ids from the secret's tags", &e);
            }
        }
    }

    pub fn warn_best_effort(&self, what: &str, err: &crate::error::AwsError) {
        warn!(secret_id = %self.arn(), step = %self.event.step, error = %err, "{what} failed; continuing");
    }
}

/// An IAM user bound to the secret being rotated, and the client that reaches it.
pub(crate) struct BoundUser {
    pub iam: aws_sdk_iam::Client,
    pub info: UserInfo,
}

impl BoundUser {
    /// The user's name as IAM spells it.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The user's access keys.
    pub async fn keys(&self) -> Result<Vec<iam::AccessKeyInfo>, ErrorKind> {
        iam::list_keys(&self.iam, self.name())
            .await
            .map_err(|source| {
                if source.code_is("NoSuchEntity") {
                    ErrorKind::UserNotFound {
                        user: self.name().to_owned(),
                        source,
                    }
                } else {
                    ErrorKind::Aws(source)
                }
            })
    }
}

/// `key-rotation-<token>`, limited to what RoleSessionName allows.
fn session_name(token: &str) -> String {
    let clean: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@-".contains(*c))
        .take(51)
        .collect();
    format!("key-rotation-{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid() {
        let s = session_name("0b1c2d3e-0000-4000-8000-00000000000f plus/junk!");
        assert!(s.len() <= 64);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)));
    }
}
