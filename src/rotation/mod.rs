//! The four-step rotation of one IAM user's access key (Secrets Manager's rotation contract).
//!
//! [`Rotator::handle`] validates the event, runs the guard, then one step function. Decisions
//! are pure functions in [`plan`] and [`guard`]; AWS calls go through [`crate::aws`].

mod create;
mod finish;
pub mod guard;
pub mod plan;
mod set;
mod test;

use crate::aws::secrets::{self, SecretMeta, SecretValue, AWSCURRENT, AWSPENDING};
use crate::aws::{sts, Clients};
use crate::config::RotationConfig;
use crate::error::{ErrorKind, RotationError, StepName};
use crate::event::{best_effort_ids, RotationEvent, Step};
use crate::metrics::{now_ms, RotationMetrics};
use crate::secret::{AccessKeySecret, SecretFormatError};
use guard::GuardOutcome;
use secrecy::ExposeSecret;
use serde_json::Value;
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
    pub async fn iam_for(
        &self,
        secret: &AccessKeySecret,
    ) -> Result<aws_sdk_iam::Client, ErrorKind> {
        let Some(role) = &secret.role_arn else {
            return Ok(self.clients.iam.clone());
        };
        if ArnParts::parse(role)
            .is_none_or(|a| a.service != "iam" || !a.resource.starts_with("role/"))
        {
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

    pub fn warn_best_effort(&self, what: &str, err: &crate::error::AwsError) {
        warn!(secret_id = %self.arn(), step = %self.event.step, error = %err, "{what} failed; continuing");
    }
}

/// The user's access keys; a missing user is reported as such.
async fn list_user_keys(
    client: &aws_sdk_iam::Client,
    user: &str,
) -> Result<Vec<crate::aws::iam::AccessKeyInfo>, ErrorKind> {
    crate::aws::iam::list_keys(client, user)
        .await
        .map_err(|source| {
            if source.code_is("NoSuchEntity") {
                ErrorKind::UserNotFound {
                    user: user.to_owned(),
                    source,
                }
            } else {
                ErrorKind::Aws(source)
            }
        })
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

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> ArnParts<'a> {
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut p = arn.splitn(6, ':');
        if p.next()? != "arn" {
            return None;
        }
        let partition = p.next()?;
        let service = p.next()?;
        let _region = p.next()?;
        let account = p.next()?;
        let resource = p.next()?;
        (!partition.is_empty() && !service.is_empty() && !resource.is_empty()).then_some(Self {
            partition,
            service,
            account,
            resource,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts() {
        let a = ArnParts::parse("arn:aws-cn:iam::123456789012:user/team/alice").unwrap();
        assert_eq!(
            (a.partition, a.service, a.account, a.resource),
            ("aws-cn", "iam", "123456789012", "user/team/alice")
        );
        assert!(ArnParts::parse("alice").is_none());
        assert!(ArnParts::parse("arn:aws:iam::1:").is_none());
    }

    #[test]
    fn session_names_are_valid() {
        let s = session_name("0b1c2d3e-0000-4000-8000-00000000000f plus/junk!");
        assert!(s.len() <= 64);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)));
    }
}
