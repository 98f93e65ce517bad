//! The audit of KMS key rotation and IAM access-key age (`audit-key-rotation`).
//!
//! [`Auditor::handle`] reads the trigger ([`events`]), runs the audit top-down (`run`: the
//! targets, then per account and region KMS, IAM and secrets with the sweep, then the export to
//! Security Hub), and returns the report, stored in S3, logged and measured. The run picks the accounts (the function's own,
//! one assumed role per account, or every ACTIVE account of the Organization) and regions, and
//! audits, all at once but with at most `AUDIT_CONCURRENCY` AWS calls in flight
//! ([`crate::aws::gate`]), or, with `AUDIT_FANOUT_QUEUE_URL`, queues one message per account
//! for the invocations that audit one account each:
//! - per account and region, every KMS key: ListKeys → DescribeKey → GetKeyRotationStatus (only
//!   for classes that can rotate) → ListKeyRotations (only for keys with rotation off, and with
//!   their key materials for imported keys);
//! - per account, every IAM user's access keys: ListUsers → ListAccessKeys →
//!   GetAccessKeyLastUsed (only for failing keys and event-named users), and the rotation
//!   secrets (ListSecrets: the key ids are in their tags, no value is read) only when a key is
//!   old or the sweep has an Inactive key to look at; for a replaced key of a rotation secret,
//!   right before the sweep decides (and, SWEEP off, for an Active one's verdict): GetUser (the
//!   binding and the switch), ListAccessKeys and GetAccessKeyLastUsed again (and of the current
//!   key, while the replaced one is Active).
//!
//! Verdicts come from [`verdict`]; a failing account, region or call becomes an ERROR finding
//! and the rest of the audit goes on. The report, logs and metrics are in [`report`].

mod accounts;
pub mod config;
mod context;
pub mod error;
pub mod events;
pub mod export;
mod fanout;
mod iam;
mod kms;
pub mod metrics;
pub mod report;
mod run;
mod secret_index;
mod sweep;
pub mod verdict;

use crate::aws::gate::Gate;
use crate::aws::organizations::Organizations;
use crate::aws::s3::S3;
use crate::aws::sns::Notifier;
use crate::aws::sqs::Sqs;
use crate::aws::AuditAws;
use crate::emf::MetricsSink;
use crate::time::{rfc3339, Clock};
use config::AuditConfig;
use context::Ctx;
pub use context::{NOT_AUDITED, SESSION_NAME};
pub use error::AuditError;
use events::{parse_trigger_from, Queues, Trigger};
use report::{Report, Stats};
use run::Audited;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info};
use verdict::iam::IamPolicy;
use verdict::kms::KmsPolicy;

/// How long before the invocation's deadline the audit stops starting AWS work, to log and
/// return the report.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

pub struct Auditor {
    config: AuditConfig,
    aws: AuditAws,
    clock: Clock,
    metrics_sink: MetricsSink,
    /// The function's own caller ARN (GetCallerIdentity, once).
    own_arn: tokio::sync::OnceCell<String>,
    notifier: Option<Notifier>,
}

impl Auditor {
    /// The auditor over `aws`; the sweep announces what it did when `NOTIFY_TOPIC_ARN` is set.
    pub fn new(aws: AuditAws, config: AuditConfig) -> Self {
        let notifier = config.shared.notifier(aws.sns.clone());
        Self {
            config,
            aws,
            clock: Arc::new(crate::time::now_secs),
            metrics_sink: crate::emf::stdout(),
            own_arn: tokio::sync::OnceCell::new(),
            notifier,
        }
    }

    /// The S3 that stores the reports in `REPORT_BUCKET` (tests: a mock).
    pub fn with_s3(mut self, s3: impl Into<S3>) -> Self {
        self.aws.s3 = Some(s3.into());
        self
    }

    /// The Organizations that lists the Organization's accounts (tests: a mock).
    pub fn with_organizations(mut self, organizations: impl Into<Organizations>) -> Self {
        self.aws.organizations = Some(organizations.into());
        self
    }

    /// The SQS that sends the fan-out messages (tests: one for a local SQS).
    pub fn with_queue(mut self, queue: impl Into<Sqs>) -> Self {
        self.aws.sqs = Some(queue.into());
        self
    }

    /// Where the sweep announces what it did (`NOTIFY_TOPIC_ARN`).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics_sink(mut self, sink: MetricsSink) -> Self {
        self.metrics_sink = sink;
        self
    }

    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    fn regions(&self) -> Result<Vec<String>, AuditError> {
        if !self.config.regions.is_empty() {
            let mut seen = BTreeSet::new();
            return Ok(self
                .config
                .regions
                .iter()
                .filter(|r| seen.insert(r.as_str()))
                .cloned()
                .collect());
        }
        self.aws
            .home_region
            .clone()
            .map(|r| vec![r])
            .ok_or(AuditError::NoRegion)
    }

    /// Audits what `event` asks for and returns the report (also logged, with EMF metrics).
    pub async fn handle(&self, event: Value) -> Result<Report, AuditError> {
        self.handle_until(event, None).await
    }

    /// Runs one Lambda invocation, as [`crate::rotation::Rotator::handle_invocation`] does:
    /// `deadline_ms` is the invocation's deadline (ms since the epoch, 0 if unknown), and the
    /// Lambda request id is the run's id (the name of its report in S3).
    pub async fn handle_invocation(
        &self,
        event: Value,
        deadline_ms: u64,
        request_id: &str,
    ) -> Result<Report, AuditError> {
        let deadline = crate::time::deadline_from_epoch_ms(deadline_ms);
        self.audit(event, deadline, request_id).await
    }

    /// As [`Auditor::handle`], within a Lambda invocation that ends at `deadline`: work that
    /// would start less than [`DEADLINE_RESERVE`] before it is not started, and what it would
    /// have judged is reported as ERROR ("not audited"), so that the report still comes back
    /// and still names every key found.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<Instant>,
    ) -> Result<Report, AuditError> {
        self.audit(event, deadline, "").await
    }

    /// The audit, top-down: the trigger; the run ([`run`]); the report; its copy in S3; its
    /// log lines and metrics; the report returned, cut to what Lambda can answer.
    async fn audit(
        &self,
        event: Value,
        deadline: Option<Instant>,
        request_id: &str,
    ) -> Result<Report, AuditError> {
        let queues = Queues {
            fanout_queue_url: self.config.fanout_queue_url.as_deref(),
            event_queue_arn: self.config.event_queue_arn.as_deref(),
        };
        let trigger = parse_trigger_from(&event, &queues).map_err(|e| {
            let err = AuditError::from(e);
            error!(error_type = err.error_type(), error = %err, "rejected audit event");
            err
        })?;
        let started = Instant::now();
        let ctx = self.context(deadline)?;
        info!(trigger = %trigger.describe(), regions = ?ctx.regions, "audit started");
        // Boxed: the audit's nested futures are too deep a type for a caller's own future.
        let audited = Box::pin(run::run(&ctx, &trigger)).await;
        let mut report = self.report(&ctx, &trigger, audited, started);
        if let (Some(s3), Some(bucket)) = (&self.aws.s3, &self.config.report_bucket) {
            report.export = Some(report.export.clone().unwrap_or_default());
            // The bucket must be the function's own account's: a name alone could be anyone's.
            let owner = Box::pin(ctx.own_account_id()).await;
            let run_id = run_id(request_id);
            let store = export::store(
                s3,
                bucket,
                owner.as_deref().map_err(Clone::clone),
                &self.config.report_prefix,
                &report,
                &run_id,
            );
            let stored = Box::pin(store).await;
            report.export.get_or_insert_with(Default::default).s3 = Some(stored);
        }
        self.publish(&report);
        // An account that refuses the audit's role (AccessDenied, or the management account
        // no StackSet reaches) refuses it on every delivery: retrying its events would only hold
        // the event dead-letter alarm for whoever runs that account.
        let retry_may_help = report.findings.iter().any(|f| {
            f.verdict == verdict::Verdict::Error
                && !f
                    .error_code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("AccessDenied"))
        });
        report.fit_to(report::MAX_REPORT_BYTES);
        if let Trigger::Events(batch) = &trigger {
            // SQS delivers the batch again only when nothing in it could be audited and another
            // delivery may fare better: one bad record or account must not send the others
            // through the retries.
            let nothing_audited = match batch.targets.is_empty() {
                true => !batch.refused.is_empty() && batch.nothing == 0,
                false => report.accounts.is_empty() && retry_may_help,
            };
            if nothing_audited {
                let err = AuditError::NothingAudited(format!(
                    "{} records received, {} refused, {} keys or users named, no account reached",
                    batch.received,
                    batch.refused.len(),
                    batch.targets.len()
                ));
                error!(error_type = err.error_type(), error = %err, "event batch not audited");
                return Err(err);
            }
        }
        Ok(report)
    }

    /// One invocation's context: its regions, gate, policies (judged at the clock's now) and
    /// the time it stops starting work.
    fn context(&self, deadline: Option<Instant>) -> Result<Ctx<'_>, AuditError> {
        let now = (self.clock)();
        Ok(Ctx {
            config: &self.config,
            aws: &self.aws,
            notifier: self.notifier.as_ref(),
            own_arn: &self.own_arn,
            gate: Gate::new(self.config.concurrency),
            regions: self.regions()?,
            kms_policy: KmsPolicy {
                max_rotation_days: self.config.kms_max_rotation_days,
                now,
            },
            iam_policy: IamPolicy {
                max_age_days: self.config.iam_max_key_age_days,
                now,
            },
            stop_at: deadline.map(|d| d.checked_sub(DEADLINE_RESERVE).unwrap_or(d)),
            management_account: tokio::sync::OnceCell::new(),
            central: tokio::sync::OnceCell::new(),
            organization: tokio::sync::OnceCell::new(),
        })
    }

    /// The report of a run, with the gate's counters.
    fn report(
        &self,
        ctx: &Ctx<'_>,
        trigger: &Trigger,
        audited: Audited,
        started: Instant,
    ) -> Report {
        let gate = &ctx.gate;
        let stats = Stats {
            concurrency: gate.concurrency(),
            max_in_flight: gate.max_in_flight(),
            aws_calls: gate.calls(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let now = ctx.iam_policy.now;
        let mut report = Report::new(
            trigger.describe(),
            rfc3339(now),
            audited.accounts,
            ctx.regions.clone(),
            audited.findings,
            stats,
        );
        report.finished_at = rfc3339(crate::time::now_secs().max(now));
        if let Trigger::Events(batch) = trigger {
            report.events = Some(report::EventCounts {
                received: batch.received,
                audited: batch.targets.len(),
                duplicates: batch.duplicates,
                refused: batch.refused.len(),
                nothing: batch.nothing,
            });
        }
        if audited.hub.is_some() {
            report.export = Some(export::ExportOutcome {
                security_hub: audited.hub,
                ..export::ExportOutcome::default()
            });
        }
        report
    }

    /// The report in the logs, and its metrics.
    fn publish(&self, report: &Report) {
        report.log();
        for doc in metrics::emf_documents(
            report,
            &self.config.shared.metrics_namespace,
            crate::time::now_ms(),
        ) {
            (self.metrics_sink)(&doc);
        }
    }
}

/// The id of a run: the Lambda request id; outside Lambda (tests, local runs) one unique
/// within the process.
fn run_id(request_id: &str) -> String {
    if !request_id.is_empty() {
        return request_id.to_owned();
    }
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:x}-{n}",
        crate::time::now_ms() ^ u64::from(std::process::id())
    )
}
