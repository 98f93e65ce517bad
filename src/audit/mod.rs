//! The audit of KMS key rotation and IAM access-key age (`audit-key-rotation`).
//!
//! [`Auditor::handle`] reads the trigger ([`events`]), picks the accounts (the function's own,
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
pub mod error;
pub mod events;
pub mod export;
mod fanout;
mod iam;
mod kms;
pub mod metrics;
pub mod report;
mod secret_index;
mod sweep;
pub mod verdict;

use crate::aws::gate::{Gate, Lane};
use crate::aws::sns::Notifier;
use crate::aws::{AuditClients, ClientFactory, ClientScope};
use crate::emf::MetricsSink;
use crate::time::{rfc3339, Clock};
use accounts::Account;
use aws_config::SdkConfig;
use config::AuditConfig;
pub use error::AuditError;
use events::{parse_trigger, IamUserRef, KmsKeyRef, Trigger};
use futures::stream::{self, StreamExt};
use report::{Finding, Report, Stats};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info};
use verdict::iam::IamPolicy;
use verdict::kms::KmsPolicy;

/// How long before the invocation's deadline the audit stops starting AWS work, to log and
/// return the report.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

/// The reason of a finding the audit had no time left for.
pub const NOT_AUDITED: &str = "not audited: the invocation ran out of time";

/// The name AssumeRole sessions of the audit carry (visible in CloudTrail).
pub const SESSION_NAME: &str = "key-rotation-audit";

pub struct Auditor {
    config: AuditConfig,
    home_region: Option<String>,
    sts: aws_sdk_sts::Client,
    factory: ClientFactory,
    clock: Clock,
    metrics_sink: MetricsSink,
    /// The function's own caller ARN (GetCallerIdentity, once).
    own_arn: tokio::sync::OnceCell<String>,
    /// Lists the Organization's accounts (`AUDIT_ORG_ROLE_NAME`).
    organizations: Option<aws_sdk_organizations::Client>,
    /// Sends the fan-out messages (`AUDIT_FANOUT_QUEUE_URL`).
    queue: Option<aws_sdk_sqs::Client>,
    notifier: Option<Notifier>,
    /// Stores the reports (`REPORT_BUCKET`).
    s3: Option<aws_sdk_s3::Client>,
}

impl Auditor {
    /// The auditor of a Lambda: clients from `sdk_config` (region, endpoint, credentials), with
    /// adaptive retries, per audited region and account.
    pub fn new(sdk_config: &SdkConfig, config: AuditConfig) -> Self {
        let (sts, factory) = crate::aws::audit_clients(sdk_config);
        let home_region = sdk_config.region().map(|r| r.as_ref().to_owned());
        let notifier = config
            .shared
            .notify_topic_arn
            .as_deref()
            .map(|topic| Notifier::new(sdk_config, topic));
        let s3 = config
            .report_bucket
            .as_ref()
            .map(|_| crate::aws::s3_client(sdk_config));
        let organizations = config
            .org_role_name
            .as_ref()
            .map(|_| crate::aws::organizations_client(sdk_config));
        let queue = config
            .fanout_queue_url
            .as_ref()
            .map(|_| crate::aws::sqs_client(sdk_config));
        let mut auditor = Self::with_factory(config, home_region, sts, factory);
        auditor.organizations = organizations;
        auditor.queue = queue;
        auditor.notifier = notifier;
        auditor.s3 = s3;
        auditor
    }

    /// An auditor over clients of the caller's making (tests: mock clients per region).
    pub fn with_factory(
        config: AuditConfig,
        home_region: Option<String>,
        sts: aws_sdk_sts::Client,
        factory: ClientFactory,
    ) -> Self {
        Self {
            config,
            home_region,
            sts,
            factory,
            clock: Arc::new(crate::time::now_secs),
            metrics_sink: crate::emf::stdout(),
            own_arn: tokio::sync::OnceCell::new(),
            organizations: None,
            queue: None,
            notifier: None,
            s3: None,
        }
    }

    /// The client that stores the reports in `REPORT_BUCKET` (tests: a mock).
    pub fn with_s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(s3);
        self
    }

    /// The client that lists the Organization's accounts (tests: a mock).
    pub fn with_organizations(mut self, organizations: aws_sdk_organizations::Client) -> Self {
        self.organizations = Some(organizations);
        self
    }

    /// The client that sends the fan-out messages (tests: one for a local SQS).
    pub fn with_queue(mut self, queue: aws_sdk_sqs::Client) -> Self {
        self.queue = Some(queue);
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
        self.home_region
            .clone()
            .map(|r| vec![r])
            .ok_or(AuditError::NoRegion)
    }

    /// Audits what `event` asks for and returns the report (also logged, with EMF metrics).
    pub async fn handle(&self, event: Value) -> Result<Report, AuditError> {
        self.handle_until(event, None).await
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
        let trigger = parse_trigger(&event).map_err(|e| {
            let err = AuditError::from(e);
            error!(error_type = err.error_type(), error = %err, "rejected audit event");
            err
        })?;
        let regions = self.regions()?;
        let started = Instant::now();
        let now = (self.clock)();
        let gate = Gate::new(self.config.concurrency);
        let run = Run {
            auditor: self,
            gate: gate.clone(),
            regions: regions.clone(),
            kms_policy: KmsPolicy {
                max_rotation_days: self.config.kms_max_rotation_days,
                now,
            },
            iam_policy: IamPolicy {
                max_age_days: self.config.iam_max_key_age_days,
                now,
            },
            stop_at: deadline.map(|d| d.checked_sub(DEADLINE_RESERVE).unwrap_or(d)),
        };
        info!(trigger = %trigger.describe(), regions = ?regions, "audit started");
        // Boxed: the audit's nested futures are too deep a type for a caller's own future.
        let (accounts, findings, hub) = Box::pin(run.execute(&trigger)).await;
        let stats = Stats {
            concurrency: gate.concurrency(),
            max_in_flight: gate.max_in_flight(),
            aws_calls: gate.calls(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let mut report = Report::new(
            trigger.describe(),
            rfc3339(now),
            accounts,
            regions,
            findings,
            stats,
        );
        report.finished_at = rfc3339(crate::time::now_secs().max(now));
        let mut export = export::ExportOutcome {
            security_hub: hub,
            ..export::ExportOutcome::default()
        };
        if let (Some(s3), Some(bucket)) = (&self.s3, &self.config.report_bucket) {
            report.export = Some(export.clone());
            let run_id = format!(
                "{:x}",
                started.elapsed().as_nanos() ^ u128::from(std::process::id())
            );
            // The bucket must be the function's own account's: a name alone could be anyone's.
            let owner = Box::pin(self.own_account_id(&gate)).await;
            let store = export::store(
                s3,
                bucket,
                owner.as_deref().map_err(Clone::clone),
                &self.config.report_prefix,
                &report,
                &run_id,
            );
            export.s3 = Some(Box::pin(store).await);
        }
        if export != export::ExportOutcome::default() {
            report.export = Some(export);
        }
        report.log();
        for doc in metrics::emf_documents(
            &report,
            &self.config.shared.metrics_namespace,
            crate::time::now_ms(),
        ) {
            (self.metrics_sink)(&doc);
        }
        report.fit_to(report::MAX_REPORT_BYTES);
        Ok(report)
    }
}

/// One invocation.
struct Run<'a> {
    auditor: &'a Auditor,
    gate: Arc<Gate>,
    regions: Vec<String>,
    kms_policy: KmsPolicy,
    iam_policy: IamPolicy,
    /// No AWS work starts after this.
    stop_at: Option<Instant>,
}

/// What an account is audited for.
enum Work<'t> {
    Full,
    Keys(&'t [KmsKeyRef]),
    User(&'t IamUserRef),
}

impl Run<'_> {
    fn config(&self) -> &AuditConfig {
        &self.auditor.config
    }

    fn out_of_time(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }

    fn lane(&self, account: &Account, region: &str) -> Lane {
        Lane::new(self.gate.clone(), &format!("{}/{region}", account.label()))
    }

    fn clients(&self, account: &Account, region: &str) -> AuditClients {
        (self.auditor.factory)(&ClientScope {
            account: account.id.as_deref(),
            role_arn: account.role.as_deref(),
            region,
            credentials: account.credentials.as_ref(),
        })
    }

    async fn execute(
        &self,
        trigger: &Trigger,
    ) -> (Vec<String>, Vec<Finding>, Option<export::HubOutcome>) {
        let (named, work): (Vec<Option<&str>>, Work) = match trigger {
            Trigger::Full => match &self.config().fanout_queue_url {
                Some(url) => {
                    let (ids, findings) = self.fan_out(url).await;
                    return (ids, findings, None);
                }
                None => (vec![None], Work::Full),
            },
            Trigger::Accounts { accounts } => (
                accounts.iter().map(|a| Some(a.as_str())).collect(),
                Work::Full,
            ),
            Trigger::KmsKeys { account, keys, .. } => (vec![account.as_deref()], Work::Keys(keys)),
            Trigger::IamUser { account, user, .. } => (vec![account.as_deref()], Work::User(user)),
            Trigger::Nothing { cause, why } => {
                info!(cause = %cause, why = %why, "nothing to audit");
                return (Vec::new(), Vec::new(), None);
            }
        };
        // The account an event or a fan-out message names is checked against the Organization
        // before its role is assumed (`accounts`): whoever can put an event on the bus or write
        // to the queue must not steer the audit elsewhere.
        let mut accounts: Vec<Account> = Vec::new();
        let mut findings = Vec::new();
        for event_account in named {
            let (found, errors) = self.accounts(event_account).await;
            accounts.extend(found);
            findings.extend(errors);
        }
        let ids = accounts.iter().filter_map(|a| a.id.clone()).collect();
        let per_account =
            futures::future::join_all(accounts.iter().map(|a| self.audit_account(a, &work))).await;
        findings.extend(per_account.into_iter().flatten());
        let hub = if self.config().security_hub {
            // Boxed, like the audit itself: the SDK's futures are deep.
            Some(Box::pin(self.import_findings(&accounts, &findings)).await)
        } else {
            None
        };
        (ids, findings, hub)
    }

    async fn audit_account(&self, account: &Account, work: &Work<'_>) -> Vec<Finding> {
        match work {
            Work::Full => {
                let kms = account.regions.iter().map(|r| self.kms_region(account, r));
                let (kms, iam) =
                    futures::join!(futures::future::join_all(kms), self.iam(account, None));
                kms.into_iter().flatten().chain(iam).collect()
            }
            Work::Keys(keys) => {
                let home = &self.regions[0];
                let mut by_region: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for k in *keys {
                    let region = k.region.as_deref().unwrap_or(home);
                    let list = by_region.entry(region).or_default();
                    if !list.contains(&k.key.as_str()) {
                        list.push(&k.key);
                    }
                }
                let per_region = by_region.into_iter().map(|(region, keys)| async move {
                    let clients = self.clients(account, region);
                    let lane = self.lane(account, region);
                    // An event may name a region the audit does not cover: the key is reported,
                    // never acted on.
                    let scope = if account.regions.iter().any(|r| r == region) {
                        kms::Scope::Named
                    } else {
                        kms::Scope::OutsideRegions
                    };
                    stream::iter(keys)
                        .map(|k| self.kms_key(account, region, scope, &clients, &lane, k))
                        .buffer_unordered(self.config().concurrency)
                        .collect::<Vec<_>>()
                        .await
                });
                futures::future::join_all(per_region)
                    .await
                    .into_iter()
                    .flatten()
                    .collect()
            }
            Work::User(user) => self.iam(account, Some(user)).await,
        }
    }
}
