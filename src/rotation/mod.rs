//! The four-step rotation of one IAM user's access key (Secrets Manager's rotation contract).
//!
//! [`Rotator::handle`] validates the event, runs the guard, then one step function. Decisions
//! are pure functions in [`plan`] and [`guard`] (the steps) and [`operator::plan`] (the operator
//! actions); AWS calls go through [`crate::aws`].

pub mod config;
mod create;
pub mod error;
pub mod event;
mod finish;
pub mod guard;
pub mod intent;
mod kept;
pub mod metrics;
pub mod operator;
pub mod plan;
mod scope;
mod set;
mod test;

use crate::aws::secrets::{SecretMeta, AWSCURRENT, AWSPENDING};
use crate::aws::sns::Notifier;
use crate::aws::RotationAws;
use crate::emf::MetricsSink;
use crate::rotation::config::RotationConfig;
use crate::rotation::error::{ErrorKind, RotationError, StepName};
use crate::rotation::event::{best_effort_ids, ActionEvent, RotationEvent, Step};
use crate::rotation::metrics::RotationMetrics;
use crate::secret::AccessKeySecret;
use crate::time::now_ms;
use guard::GuardOutcome;
pub use scope::Sessions;
pub(crate) use scope::{BoundUser, Scope};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{error, info, warn};

pub struct Rotator {
    aws: RotationAws,
    config: RotationConfig,
    sessions: Sessions,
    metrics_sink: MetricsSink,
    notifier: Option<Notifier>,
}

/// One invocation's view: the validated event, the secret's metadata and counters.
pub(crate) struct Invocation<'a> {
    pub aws: &'a RotationAws,
    pub config: &'a RotationConfig,
    pub event: &'a RotationEvent,
    pub meta: &'a SecretMeta,
    pub metrics: &'a RotationMetrics,
    /// When the Lambda invocation ends, if known.
    pub deadline: Option<Instant>,
    pub sessions: &'a Sessions,
}

impl Rotator {
    /// The rotator over `aws`; it announces operator actions when `NOTIFY_TOPIC_ARN` is set.
    pub fn new(aws: RotationAws, config: RotationConfig) -> Self {
        let notifier = config.shared.notifier(aws.sns.clone());
        Self {
            aws,
            config,
            sessions: Sessions::default(),
            metrics_sink: crate::emf::stdout(),
            notifier,
        }
    }

    /// Where Rollback and Cancel are announced (`NOTIFY_TOPIC_ARN`).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    pub fn with_metrics_sink(mut self, sink: MetricsSink) -> Self {
        self.metrics_sink = sink;
        self
    }

    /// Runs one invocation: an operator action (`{"Action": ...}`) or a rotation step. Returns
    /// the action's answer, or null for a step.
    pub async fn handle_request(
        &self,
        event: Value,
        deadline_ms: u64,
    ) -> Result<Value, RotationError> {
        self.handle_invocation(event, deadline_ms, "").await
    }

    /// [`Rotator::handle_request`], with the Lambda request id that logs and notifications of
    /// operator actions carry.
    pub async fn handle_invocation(
        &self,
        event: Value,
        deadline_ms: u64,
        request_id: &str,
    ) -> Result<Value, RotationError> {
        let action = ActionEvent::parse(&event);
        if action.is_some() && !self.config.operator_actions {
            // Everyone who may call RotateSecret may invoke this function: an action here is
            // refused before any AWS call, and counted (someone tried).
            let (secret, _) = best_effort_ids(&event);
            let err = RotationError {
                secret: secret.unwrap_or_default(),
                step: StepName::Event,
                token: String::new(),
                kind: ErrorKind::OperatorActionsDisabled,
            };
            warn!(secret_id = ?err.secret, request_id, error_type = err.error_type(),
                  "an operator action was sent to the rotation function; refused");
            let metrics = RotationMetrics::default();
            RotationMetrics::add(&metrics.operator_actions_refused, 1);
            self.emit(&metrics, metrics::REFUSED_ACTION_STEP, false);
            return Err(err);
        }
        if action.is_none() && self.config.operator_actions {
            // The operator function has no right to store secret values; a step run here could
            // only leave a key behind. Rotation steps go to the rotation function.
            let (secret, token) = best_effort_ids(&event);
            let err = RotationError {
                secret: secret.unwrap_or_default(),
                step: StepName::Event,
                token: token.unwrap_or_default(),
                kind: ErrorKind::StepsDisabled,
            };
            warn!(secret_id = ?err.secret, request_id, error_type = err.error_type(),
                  "a rotation step was sent to the operator function; refused");
            return Err(err);
        }
        match action {
            None => self.handle(event, deadline_ms).await.map(|()| Value::Null),
            Some(Ok(a)) => self.act(&a, request_id).await,
            Some(Err(e)) => {
                let (secret, _) = best_effort_ids(&event);
                let err = RotationError {
                    secret: secret.unwrap_or_default(),
                    step: StepName::Event,
                    token: String::new(),
                    kind: e.into(),
                };
                error!(error_type = err.error_type(), error = %err, "rejected operator action");
                Err(err)
            }
        }
    }

    async fn act(&self, event: &ActionEvent, request_id: &str) -> Result<Value, RotationError> {
        let metrics = RotationMetrics::default();
        let action = event.action.as_str();
        let mut secret_arn = None;
        warn!(secret_id = ?event.secret_id, action, request_id,
              reactivate_key = event.reactivate_key, "operator action requested");
        let result = async {
            let meta = self.describe(&event.secret_id).await?;
            secret_arn = Some(meta.arn.clone());
            let scope = Scope {
                aws: &self.aws,
                key_writer: self.config.key_writer_role_arn.as_deref(),
                sessions: &self.sessions,
                meta: &meta,
                what: action,
                session: action,
            };
            operator::run(&scope, event, &metrics).await
        }
        .await;
        // The operator function answers a refusal as a result: nothing failed, nothing changed.
        let result = match result {
            Err(ErrorKind::ActionRefused(reason)) => {
                warn!(secret_id = ?event.secret_id, action, request_id, reason = %reason,
                      "operator action refused; nothing was changed");
                Ok(serde_json::json!({"Result": "refused", "Action": action,
                    "SecretId": secret_arn.as_deref().unwrap_or(&event.secret_id),
                    "Reason": reason, "RequestId": request_id}))
            }
            other => other,
        };
        if let Ok(answer) = &result {
            let outcome = answer
                .get("Result")
                .and_then(|r| r.as_str())
                .unwrap_or("done");
            warn!(secret_id = ?event.secret_id, action, request_id, result = %outcome,
                  "operator action answered");
        }
        if let (Ok(answer), Some(notifier)) = (&result, &self.notifier) {
            let arn = secret_arn.as_deref().unwrap_or(&event.secret_id);
            if let Some(notice) = operator::notice(event.action, arn, answer, request_id) {
                notifier.publish(&notice).await;
            }
        }
        self.emit(&metrics, action, result.is_ok());
        result.map_err(|kind| {
            let err = RotationError {
                secret: event.secret_id.clone(),
                step: StepName::Action(event.action),
                token: String::new(),
                kind,
            };
            error!(secret_id = ?event.secret_id, action, request_id, error_type = err.error_type(),
                   error = %err, "operator action failed");
            err
        })
    }

    async fn describe(&self, secret_id: &str) -> Result<SecretMeta, ErrorKind> {
        self.aws.secrets.describe(secret_id).await.map_err(|e| {
            if e.code_is("ResourceNotFoundException") || e.code_is("AccessDeniedException") {
                ErrorKind::SecretNotFound(e)
            } else {
                ErrorKind::Aws(e)
            }
        })
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
        (self.metrics_sink)(&metrics.to_emf(
            &self.config.shared.metrics_namespace,
            step,
            ok,
            now_ms(),
        ));
    }

    async fn run(
        &self,
        event: &RotationEvent,
        metrics: &RotationMetrics,
        deadline: Option<Instant>,
    ) -> Result<(), ErrorKind> {
        let meta = self.describe(&event.secret_id).await?;
        let outcome = guard::check(&meta, &event.token, event.step)?;
        if outcome == GuardOutcome::AlreadyCurrent {
            info!(secret_id = %meta.arn, step = %event.step, token = ?event.token,
                  "version is already AWSCURRENT; nothing to do");
            return Ok(());
        }
        let inv = Invocation {
            aws: &self.aws,
            config: &self.config,
            event,
            meta: &meta,
            metrics,
            deadline,
            sessions: &self.sessions,
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

    pub async fn read_current(&self) -> Result<AccessKeySecret, ErrorKind> {
        self.scope()
            .read(None, AWSCURRENT)
            .await?
            .ok_or(ErrorKind::NoCurrentVersion)
    }

    /// The value createSecret stored under this token; `None` if it has not yet.
    pub async fn read_pending(&self) -> Result<Option<AccessKeySecret>, ErrorKind> {
        self.scope().read(Some(self.token()), AWSPENDING).await
    }

    pub async fn require_pending(&self) -> Result<AccessKeySecret, ErrorKind> {
        self.read_pending()
            .await?
            .ok_or(ErrorKind::PendingValueMissing)
    }

    /// The secret as this step sees it.
    pub fn scope(&self) -> Scope<'_> {
        Scope {
            aws: self.aws,
            key_writer: self.config.key_writer_role_arn.as_deref(),
            sessions: self.sessions,
            meta: self.meta,
            what: self.event.step.as_str(),
            session: self.token(),
        }
    }
}
