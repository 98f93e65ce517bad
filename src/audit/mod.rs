//! The audit of KMS key rotation and IAM access-key age (`audit-key-rotation`).
//!
//! [`Auditor::handle`] reads the trigger ([`events`]), picks the accounts (the function's own, or
//! one assumed role per account) and regions, and audits, all at once but with at most
//! `AUDIT_CONCURRENCY` AWS calls in flight ([`gate`]):
//! - per account and region, every KMS key: ListKeys → DescribeKey → GetKeyRotationStatus (only
//!   for classes that can rotate) → ListKeyRotations (only for keys with rotation off);
//! - per account, every IAM user's access keys: ListUsers → ListAccessKeys → GetAccessKeyLastUsed,
//!   and the rotation secrets (ListSecrets: the key ids are in their tags, no value is read) only
//!   when a key is old or the sweep has an Inactive key to look at; before the sweep deletes a
//!   key: GetUser (the binding), ListAccessKeys and GetAccessKeyLastUsed again.
//!
//! Verdicts come from [`classify`]; a failing account, region or call becomes an ERROR finding
//! and the rest of the audit goes on. The report, logs and metrics are in [`report`].

pub mod classify;
pub mod config;
pub mod events;
pub mod export;
pub mod gate;
pub mod report;
pub mod secret_rotation;

use crate::aws::iam_inventory::{self, AccessKeyRecord, SecretKeyRefs};
use crate::aws::sns::{Notice, NoticeKind, Notifier};
use crate::aws::{kms, sts};
use crate::error::AwsError;
use crate::time::rfc3339;
use aws_config::retry::RetryConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use classify::{
    apply_exemption, judge_access_key, judge_describe_failure, judge_kms, judge_root_keys,
    kms_class, last_on_demand_in_window, needs_rotation_history, sweep_candidate, sweep_decision,
    IamPolicy, Judgement, KeyClass, KmsPolicy, LastUse, OnDemand, RotationLookup, SecretIndex,
    Sweep, SweepFacts, SweepPolicy, Verdict, EXEMPT_TAG,
};
use config::AuditConfig;
use events::{parse_trigger, IamUserRef, KmsKeyRef, Trigger, TriggerError};
use futures::stream::{self, StreamExt};
use gate::{Gate, Lane};
use lambda_runtime::Diagnostic;
use report::{Action, Finding, IamDetail, Kind, KmsDetail, Report, Stats};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tracing::{error, info, warn};

/// The `user` of the root user's access-key finding.
const ROOT_USER: &str = "<root_account>";

/// The SDK clients of one account and region.
#[derive(Clone, Debug)]
pub struct AuditClients {
    pub kms: aws_sdk_kms::Client,
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub securityhub: aws_sdk_securityhub::Client,
}

/// Which account and region a set of clients is for.
#[derive(Debug, Clone, Copy)]
pub struct ClientScope<'a> {
    pub account: Option<&'a str>,
    /// The role assumed for this account, if any.
    pub role_arn: Option<&'a str>,
    pub region: &'a str,
    /// The assumed role's credentials; `None`: the function's own.
    pub credentials: Option<&'a Credentials>,
}

/// Builds the clients of an account and region.
pub type ClientFactory = Arc<dyn Fn(&ClientScope<'_>) -> AuditClients + Send + Sync>;
/// Seconds since the epoch: the time verdicts are judged at.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
/// Where the EMF documents go (stdout in Lambda).
pub type MetricsSink = Arc<dyn Fn(&Value) + Send + Sync>;

/// The audit clients' retry settings: adaptive (client-side rate limiting once AWS throttles),
/// five attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(5)
}

/// How long before the invocation's deadline the audit stops starting AWS work, to log and
/// return the report.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

/// The reason of a finding the audit had no time left for.
pub const NOT_AUDITED: &str = "not audited: the invocation ran out of time";

/// The name AssumeRole sessions of the audit carry (visible in CloudTrail).
pub const SESSION_NAME: &str = "key-rotation-audit";

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("invalid audit event: {0}")]
    InvalidEvent(#[from] TriggerError),
    #[error("no region to audit: set AUDIT_REGIONS or AWS_REGION")]
    NoRegion,
}

impl AuditError {
    /// The stable `errorType` the Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            AuditError::InvalidEvent(_) => "Audit.InvalidEvent",
            AuditError::NoRegion => "Audit.NoRegion",
        }
    }
}

impl From<AuditError> for Diagnostic {
    fn from(e: AuditError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

pub struct Auditor {
    config: AuditConfig,
    home_region: Option<String>,
    sts: aws_sdk_sts::Client,
    factory: ClientFactory,
    clock: Clock,
    metrics_sink: MetricsSink,
    own_account: tokio::sync::OnceCell<String>,
    notifier: Option<Notifier>,
    /// Stores the reports (`REPORT_BUCKET`).
    s3: Option<aws_sdk_s3::Client>,
}

/// An account being audited.
#[derive(Debug, Clone)]
struct Account {
    id: Option<String>,
    role: Option<String>,
    credentials: Option<Credentials>,
}

impl Account {
    fn label(&self) -> &str {
        self.id.as_deref().unwrap_or("own")
    }
}

/// The `n`th `:`-separated part of an ARN.
fn arn_part(arn: &str, n: usize) -> Option<&str> {
    arn.starts_with("arn:")
        .then(|| arn.split(':').nth(n))
        .flatten()
        .filter(|p| !p.is_empty())
}

/// The error code of a failed call, or its rendered message when AWS gave no code (a timeout,
/// a connection failure).
fn code_of(e: &AwsError) -> String {
    e.code.clone().unwrap_or_else(|| e.to_string())
}

impl Auditor {
    /// The auditor of a Lambda: clients from `sdk_config` (region, endpoint, credentials), with
    /// adaptive retries, per audited region and account.
    pub fn new(sdk_config: &SdkConfig, config: AuditConfig) -> Self {
        let base = sdk_config.to_builder().retry_config(retry_config()).build();
        let sts = aws_sdk_sts::Client::new(&base);
        let home_region = base.region().map(|r| r.as_ref().to_owned());
        let factory: ClientFactory = Arc::new(move |scope: &ClientScope<'_>| {
            let mut b = base
                .to_builder()
                .region(Region::new(scope.region.to_owned()));
            if let Some(c) = scope.credentials {
                b = b.credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                    c.clone(),
                ));
            }
            let conf = b.build();
            // The SDK shares its retry quota and adaptive rate limiter by partition, by default
            // one per service and region for the whole process: give each account its own, so
            // that throttling or failures in one account do not slow the others.
            let partition = |service: &str| {
                format!(
                    "audit-{service}-{}-{}",
                    scope.region,
                    scope.account.unwrap_or("own")
                )
            };
            AuditClients {
                kms: aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(&conf)
                        .retry_partition(aws_sdk_kms::config::retry::RetryPartition::new(
                            partition("kms"),
                        ))
                        .build(),
                ),
                iam: aws_sdk_iam::Client::from_conf(
                    aws_sdk_iam::config::Builder::from(&conf)
                        .retry_partition(aws_sdk_iam::config::retry::RetryPartition::new(
                            partition("iam"),
                        ))
                        .build(),
                ),
                secrets: aws_sdk_secretsmanager::Client::from_conf(
                    aws_sdk_secretsmanager::config::Builder::from(&conf)
                        .retry_partition(
                            aws_sdk_secretsmanager::config::retry::RetryPartition::new(partition(
                                "secretsmanager",
                            )),
                        )
                        .build(),
                ),
                securityhub: aws_sdk_securityhub::Client::from_conf(
                    aws_sdk_securityhub::config::Builder::from(&conf)
                        .retry_partition(aws_sdk_securityhub::config::retry::RetryPartition::new(
                            partition("securityhub"),
                        ))
                        .build(),
                ),
            }
        });
        let notifier = config
            .notify_topic_arn
            .as_deref()
            .map(|topic| Notifier::new(sdk_config, topic));
        // Path-style addressing where an endpoint is set (a local S3 has no bucket DNS names).
        let s3 = config.report_bucket.as_ref().map(|_| {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk_config)
                    .force_path_style(sdk_config.endpoint_url().is_some())
                    .build(),
            )
        });
        let mut auditor = Self::with_factory(config, home_region, sts, factory);
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
            metrics_sink: Arc::new(|doc| println!("{doc}")),
            own_account: tokio::sync::OnceCell::new(),
            notifier: None,
            s3: None,
        }
    }

    /// The client that stores the reports in `REPORT_BUCKET` (tests: a mock).
    pub fn with_s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(s3);
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
            let store = export::store(s3, bucket, &self.config.report_prefix, &report, &run_id);
            export.s3 = Some(Box::pin(store).await);
        }
        if export != export::ExportOutcome::default() {
            report.export = Some(export);
        }
        report.log();
        for doc in report.emf_documents(&self.config.metrics_namespace, crate::metrics::now_ms()) {
            (self.metrics_sink)(&doc);
        }
        report.fit_to(report::MAX_REPORT_BYTES);
        Ok(report)
    }

    /// The function's own account id (GetCallerIdentity once, then remembered).
    async fn own_account_id(&self, gate: &Arc<Gate>) -> Result<String, AwsError> {
        self.own_account
            .get_or_try_init(|| async {
                let lane = Lane::new(gate.clone(), "own/sts");
                let arn = lane
                    .call("sts:GetCallerIdentity", sts::caller_arn(&self.sts))
                    .await?;
                Ok(arn_part(&arn, 4).unwrap_or_default().to_owned())
            })
            .await
            .cloned()
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
        let (event_account, work) = match trigger {
            Trigger::Full => (None, Work::Full),
            Trigger::KmsKeys { account, keys, .. } => (account.as_deref(), Work::Keys(keys)),
            Trigger::IamUser { account, user, .. } => (account.as_deref(), Work::User(user)),
            Trigger::Nothing { cause, why } => {
                info!(cause = %cause, why = %why, "nothing to audit");
                return (Vec::new(), Vec::new(), None);
            }
        };
        let (accounts, mut findings) = self.accounts(event_account).await;
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

    /// One ASFF finding per resource, into the Security Hub of the resource's account and region
    /// (through that account's credentials).
    async fn import_findings(
        &self,
        accounts: &[Account],
        findings: &[Finding],
    ) -> export::HubOutcome {
        let home = self.regions[0].clone();
        let now = rfc3339(crate::time::now_secs().max(self.iam_policy.now));
        let mut out = export::HubOutcome::default();
        for (target, group) in export::by_target(findings, &home) {
            let Some(account) = accounts
                .iter()
                .find(|a| a.id.as_deref() == Some(target.account.as_str()))
            else {
                continue;
            };
            let clients = self.clients(account, &target.region);
            Box::pin(export::import(
                &clients.securityhub,
                &group,
                &home,
                &now,
                &mut out,
            ))
            .await;
        }
        info!(
            imported = out.imported,
            failed = out.failed,
            calls = out.calls,
            "findings sent to Security Hub"
        );
        out
    }

    /// The accounts to audit (for an event: the event's account, if the audit covers it), each
    /// with credentials; accounts that cannot be reached become ERROR findings.
    async fn accounts(&self, event_account: Option<&str>) -> (Vec<Account>, Vec<Finding>) {
        let mut findings = Vec::new();
        let roles = &self.config().role_arns;
        if roles.is_empty() {
            let id = match self.auditor.own_account_id(&self.gate).await {
                Ok(id) => Some(id),
                Err(e) => {
                    warn!(error = %e, "cannot identify the function's own account");
                    findings.push(Finding::scope_error(
                        "sts:GetCallerIdentity",
                        None,
                        None,
                        format!("the function's own account cannot be identified: {e}"),
                        e.code.as_deref(),
                    ));
                    None
                }
            };
            if let (Some(event), Some(own)) = (event_account, id.as_deref()) {
                if event != own {
                    findings.push(outside(event));
                    return (Vec::new(), findings);
                }
            }
            return (
                vec![Account {
                    id,
                    role: None,
                    credentials: None,
                }],
                findings,
            );
        }
        let selected: Vec<&String> = roles
            .iter()
            .filter(|r| event_account.is_none_or(|a| arn_part(r, 4) == Some(a)))
            .collect();
        if selected.is_empty() {
            if let Some(a) = event_account {
                findings.push(outside(a));
            }
            return (Vec::new(), findings);
        }
        let assumed = futures::future::join_all(selected.iter().map(|role| async move {
            let id = arn_part(role, 4).map(str::to_owned);
            let lane = Lane::new(
                self.gate.clone(),
                &format!("{}/sts", id.as_deref().unwrap_or("?")),
            );
            let result = lane
                .call(
                    "sts:AssumeRole",
                    sts::assume_role(&self.auditor.sts, role, None, SESSION_NAME),
                )
                .await;
            (role.to_string(), id, result)
        }))
        .await;
        let mut accounts = Vec::new();
        for (role, id, result) in assumed {
            match result {
                Ok(credentials) => accounts.push(Account {
                    id,
                    role: Some(role),
                    credentials: Some(credentials),
                }),
                Err(e) => {
                    warn!(role_arn = %role, error = %e, "cannot assume the audit role");
                    findings.push(Finding::scope_error(
                        role.clone(),
                        id.as_deref(),
                        None,
                        format!(
                            "cannot assume {role}: the account is not audited ({})",
                            code_of(&e)
                        ),
                        e.code.as_deref(),
                    ));
                }
            }
        }
        (accounts, findings)
    }

    async fn audit_account(&self, account: &Account, work: &Work<'_>) -> Vec<Finding> {
        match work {
            Work::Full => {
                let kms = self.regions.iter().map(|r| self.kms_region(account, r));
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
                    let in_scope = self.regions.iter().any(|r| r == region);
                    stream::iter(keys)
                        .map(|k| self.kms_key(account, region, in_scope, &clients, &lane, k))
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

    // -----------------------------------------------------------------------------------------
    // KMS
    // -----------------------------------------------------------------------------------------

    async fn kms_region(&self, account: &Account, region: &str) -> Vec<Finding> {
        let clients = self.clients(account, region);
        let lane = self.lane(account, region);
        let keys = match kms::list_keys(&clients.kms, &lane).await {
            Ok(keys) => keys,
            Err(e) => {
                return vec![Finding::scope_error(
                    "kms:ListKeys",
                    account.id.as_deref(),
                    Some(region),
                    format!(
                        "KMS keys of the region cannot be listed; none was audited ({})",
                        code_of(&e)
                    ),
                    e.code.as_deref(),
                )]
            }
        };
        info!(
            account = account.label(),
            region,
            keys = keys.len(),
            "auditing KMS keys"
        );
        stream::iter(keys)
            .map(|k| {
                let clients = &clients;
                let lane = &lane;
                async move {
                    self.kms_key(account, region, true, clients, lane, &k.id)
                        .await
                }
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await
    }

    /// The finding for one key (an id, ARN or alias). Remediation only when `in_scope` (the
    /// region is one of `AUDIT_REGIONS`).
    async fn kms_key(
        &self,
        account: &Account,
        region: &str,
        in_scope: bool,
        clients: &AuditClients,
        lane: &Lane,
        key: &str,
    ) -> Finding {
        let base = |resource: &str, j: &Judgement| Finding {
            account: account.id.clone(),
            region: Some(region.to_owned()),
            ..Finding::new(Kind::KmsKey, resource, j.verdict, j.reason.clone())
        };
        if self.out_of_time() {
            return Finding {
                kms: Some(KmsDetail {
                    key_id: key.rsplit('/').next().unwrap_or(key).to_owned(),
                    ..KmsDetail::default()
                }),
                ..base(key, &Judgement::error(NOT_AUDITED))
            };
        }
        let facts = match kms::describe_key(&clients.kms, lane, key).await {
            Ok(f) => f,
            Err(e) => {
                let j = judge_describe_failure(Some(code_of(&e).as_str()));
                return Finding {
                    error_code: e.code.clone().filter(|_| j.verdict == Verdict::Error),
                    kms: Some(KmsDetail {
                        key_id: key.rsplit('/').next().unwrap_or(key).to_owned(),
                        ..KmsDetail::default()
                    }),
                    ..base(key, &j)
                };
            }
        };
        let class = kms_class(&facts);
        let mut lookup = RotationLookup::NotQueried;
        let mut error_code = None;
        if class.needs_rotation_status() {
            lookup = match kms::rotation_status(&clients.kms, lane, &facts.key_id).await {
                Ok(status) => RotationLookup::Status {
                    status,
                    on_demand: OnDemand::NotChecked,
                },
                Err(e) => {
                    error_code = e.code.clone();
                    RotationLookup::Failed {
                        code: Some(code_of(&e)),
                    }
                }
            };
        }
        if needs_rotation_history(&class, &lookup) {
            let found = match kms::rotations(&clients.kms, lane, &facts.key_id).await {
                Ok(r) => last_on_demand_in_window(&r, &self.kms_policy),
                Err(e) => OnDemand::Unknown(code_of(&e)),
            };
            if let RotationLookup::Status { on_demand, .. } = &mut lookup {
                *on_demand = found;
            }
        }
        let mut j = judge_kms(&facts, &class, &lookup, &self.kms_policy);
        // Exemptions are looked up only where they change something: a failing key.
        if j.verdict == Verdict::NonCompliant {
            match kms::tag_value(&clients.kms, lane, &facts.key_id, EXEMPT_TAG).await {
                Ok(tag) => {
                    if let Some((verdict, reason)) =
                        apply_exemption(j.verdict, &j.reason, tag.as_deref())
                    {
                        j = Judgement {
                            verdict,
                            reason,
                            remediable: false,
                        };
                    }
                }
                Err(e) => j
                    .reason
                    .push_str(&format!("; exemption unknown ({})", code_of(&e))),
            }
        }
        let (status, on_demand) = match &lookup {
            RotationLookup::Status { status, on_demand } => (Some(status), Some(on_demand)),
            _ => (None, None),
        };
        let mut finding = Finding {
            error_code: error_code.filter(|_| j.verdict == Verdict::Error),
            kms: Some(KmsDetail {
                remediable: j.remediable,
                key_id: facts.key_id.clone(),
                key_manager: facts.key_manager.clone(),
                key_spec: facts.key_spec.clone(),
                origin: facts.origin.clone(),
                key_state: facts.key_state.clone(),
                rotation_enabled: status.map(|s| s.enabled),
                rotation_period_days: status.and_then(|s| s.period_days),
                next_rotation_date: status.and_then(|s| s.next_rotation).map(rfc3339),
                last_on_demand_rotation: match on_demand {
                    Some(OnDemand::At(t)) => Some(rfc3339(*t)),
                    _ => None,
                },
                primary_key_arn: match &class {
                    KeyClass::Replica { primary_arn } => primary_arn.clone(),
                    _ => None,
                },
                key_material_expires: facts.valid_to.map(rfc3339),
            }),
            ..base(&facts.arn, &j)
        };
        if self.config().remediate && j.remediable && !in_scope {
            finding.reason.push_str(&format!(
                "; not remediated: {region} is not one of the audited regions (AUDIT_REGIONS)"
            ));
        } else if self.config().remediate && j.remediable && !self.out_of_time() {
            let days = self.config().remediate_rotation_days;
            warn!(account = account.label(), region, key_id = %facts.key_id,
                  previous_rotation_enabled = ?status.map(|s| s.enabled),
                  previous_period_days = ?status.and_then(|s| s.period_days),
                  days, "enabling key rotation");
            let result = kms::enable_rotation(&clients.kms, lane, &facts.key_id, days).await;
            finding.action = Some(match result {
                Ok(()) => Action {
                    action: "EnableKeyRotation",
                    succeeded: true,
                    detail: format!("rotation enabled every {days} days"),
                },
                Err(e) => {
                    warn!(account = account.label(), region, key_id = %facts.key_id, error = %e,
                          "key rotation could not be enabled");
                    Action {
                        action: "EnableKeyRotation",
                        succeeded: false,
                        detail: code_of(&e),
                    }
                }
            });
        }
        finding
    }

    // -----------------------------------------------------------------------------------------
    // IAM
    // -----------------------------------------------------------------------------------------

    /// The access keys of every user (`user` = None) or of one user, and the root user's.
    async fn iam(&self, account: &Account, user: Option<&IamUserRef>) -> Vec<Finding> {
        let regions: Vec<(String, AuditClients)> = self
            .regions
            .iter()
            .map(|r| (r.clone(), self.clients(account, r)))
            .collect();
        let iam = &regions[0].1.iam;
        let lane = self.lane(account, report::GLOBAL);
        let acct = account.id.as_deref();
        let mut findings = Vec::new();

        if matches!(user, None | Some(IamUserRef::Root)) {
            match iam_inventory::root_access_keys(iam, &lane).await {
                Ok(n) => findings.extend(judge_root_keys(n).map(|j| Finding {
                    account: account.id.clone(),
                    iam: Some(IamDetail {
                        user: ROOT_USER.to_owned(),
                        ..IamDetail::default()
                    }),
                    ..Finding::new(
                        Kind::IamAccessKey,
                        format!("root:{}", account.label()),
                        j.verdict,
                        j.reason,
                    )
                })),
                Err(e) => findings.push(Finding::scope_error(
                    "iam:GetAccountSummary",
                    acct,
                    None,
                    format!(
                        "the root user's access keys cannot be counted ({})",
                        code_of(&e)
                    ),
                    e.code.as_deref(),
                )),
            }
        }
        let users = match user {
            None => match iam_inventory::list_users(iam, &lane).await {
                Ok(u) => u,
                Err(e) => {
                    findings.push(Finding::scope_error(
                        "iam:ListUsers",
                        acct,
                        None,
                        format!(
                            "IAM users cannot be listed; no access key was audited ({})",
                            code_of(&e)
                        ),
                        e.code.as_deref(),
                    ));
                    return findings;
                }
            },
            Some(IamUserRef::Named(u)) => vec![u.clone()],
            Some(IamUserRef::Root) => Vec::new(),
        };
        let targeted = user.is_some();

        // Every user's keys.
        type Listed = (String, Option<Result<Vec<AccessKeyRecord>, AwsError>>);
        let listed: Vec<Listed> = stream::iter(users)
            .map(|u| {
                let lane = &lane;
                async move {
                    if self.out_of_time() {
                        return (u, None);
                    }
                    let r = iam_inventory::list_access_keys(iam, lane, &u).await;
                    (u, Some(r))
                }
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;
        let mut keys = Vec::new();
        for (u, result) in listed {
            let Some(result) = result else {
                findings.push(Finding {
                    account: account.id.clone(),
                    ..Finding::new(Kind::IamUser, u, Verdict::Error, NOT_AUDITED)
                });
                continue;
            };
            match result {
                Ok(k) => keys.extend(k),
                Err(e) if e.code_is("NoSuchEntity") => {
                    if targeted {
                        findings.push(Finding {
                            account: account.id.clone(),
                            ..Finding::new(
                                Kind::IamUser,
                                u,
                                Verdict::NotApplicable,
                                "user no longer exists",
                            )
                        });
                    }
                }
                Err(e) => findings.push(Finding {
                    account: account.id.clone(),
                    error_code: e.code.clone(),
                    ..Finding::new(
                        Kind::IamUser,
                        u,
                        Verdict::Error,
                        format!("the user's access keys cannot be listed ({})", code_of(&e)),
                    )
                }),
            }
        }

        // When the Active keys were last used.
        let with_use: Vec<(AccessKeyRecord, LastUse)> = stream::iter(keys)
            .map(|k| {
                let lane = &lane;
                async move {
                    let last = if k.status == "Active" && self.out_of_time() {
                        LastUse::Unknown("not looked up: the invocation ran out of time".to_owned())
                    } else if k.status == "Active" {
                        match iam_inventory::last_used(iam, lane, &k.id).await {
                            Ok(u) => LastUse::Known(u),
                            Err(e) => LastUse::Unknown(code_of(&e)),
                        }
                    } else {
                        LastUse::Known(Default::default())
                    };
                    (k, last)
                }
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;

        // The secrets, from their tags and metadata (ListSecrets: a page per 100 secrets per
        // region, never a value): which keys rotation secrets hold (`managed_by`, the sweep), and,
        // in a full audit, each secret's rotation verdict.
        let need_index = !with_use.is_empty() || user.is_none();
        let (index, secrets) = if need_index && self.out_of_time() {
            (Some(SecretIndex::new([], Vec::new(), false)), Vec::new())
        } else if need_index {
            let (index, secrets) = self.secret_index(account, &regions, &mut findings).await;
            (Some(index), secrets)
        } else {
            (None, Vec::new())
        };
        if user.is_none() {
            findings.extend(secrets.iter().map(|(region, s)| {
                let j = secret_rotation::judge_secret(s, self.iam_policy.now);
                Finding {
                    account: account.id.clone(),
                    region: Some(region.clone()),
                    ..Finding::new(Kind::Secret, s.arn.clone(), j.verdict, j.reason)
                }
            }));
        }

        let mut judged = stream::iter(with_use)
            .map(|(k, last)| {
                let index = index.as_ref();
                let lane = &lane;
                async move {
                    self.access_key_finding(account, iam, lane, &k, &last, index)
                        .await
                }
            })
            .buffer_unordered(self.config().concurrency)
            .collect::<Vec<_>>()
            .await;
        self.exempt_users(iam, &lane, &mut judged).await;
        findings.extend(judged);
        findings
    }

    /// EXEMPT for the non-compliant keys of users tagged `KeyRotationExempt`: one GetUser per
    /// user with a non-compliant key (an exemption changes nothing elsewhere).
    async fn exempt_users(&self, iam: &aws_sdk_iam::Client, lane: &Lane, findings: &mut [Finding]) {
        let users: BTreeSet<String> = findings
            .iter()
            .filter(|f| f.kind == Kind::IamAccessKey && f.verdict == Verdict::NonCompliant)
            .filter_map(|f| f.user().map(str::to_owned))
            .filter(|u| u != ROOT_USER)
            .collect();
        if users.is_empty() || self.out_of_time() {
            return;
        }
        let tags: HashMap<String, Result<Option<String>, String>> = stream::iter(users)
            .map(|u| async move {
                let tag = iam_inventory::get_user(iam, lane, &u)
                    .await
                    .map(|info| info.tag(EXEMPT_TAG).map(str::to_owned))
                    .map_err(|e| code_of(&e));
                (u, tag)
            })
            .buffer_unordered(self.config().concurrency)
            .collect()
            .await;
        for f in findings
            .iter_mut()
            .filter(|f| f.kind == Kind::IamAccessKey && f.verdict == Verdict::NonCompliant)
        {
            match f.user().and_then(|u| tags.get(u)) {
                Some(Ok(tag)) => {
                    if let Some((verdict, reason)) =
                        apply_exemption(f.verdict, &f.reason, tag.as_deref())
                    {
                        f.verdict = verdict;
                        f.reason = reason;
                    }
                }
                Some(Err(code)) => f.reason.push_str(&format!("; exemption unknown ({code})")),
                None => {}
            }
        }
    }

    async fn access_key_finding(
        &self,
        account: &Account,
        iam: &aws_sdk_iam::Client,
        lane: &Lane,
        key: &AccessKeyRecord,
        last: &LastUse,
        index: Option<&SecretIndex>,
    ) -> Finding {
        let j = judge_access_key(key, last, index, &self.iam_policy);
        let (last_used, last_used_service) = match last {
            LastUse::Known(u) => (u.date.map(rfc3339), u.service.clone()),
            LastUse::Unknown(_) => (None, None),
        };
        let mut finding = Finding {
            account: account.id.clone(),
            iam: Some(IamDetail {
                user: key.user.clone(),
                managed_by: index
                    .and_then(|i| i.current_of(&key.id))
                    .map(|s: &SecretKeyRefs| s.secret_arn.clone()),
                status: Some(key.status.clone()),
                age_days: key
                    .created
                    .map(|c| classify::age_days(c, self.iam_policy.now)),
                created: key.created.map(rfc3339),
                last_used: last_used.filter(|_| key.status == "Active"),
                last_used_service: last_used_service.filter(|_| key.status == "Active"),
            }),
            ..Finding::new(Kind::IamAccessKey, key.id.clone(), j.verdict, j.reason)
        };
        if !self.config().sweep || self.out_of_time() {
            return finding;
        }
        let Some(index) = index else { return finding };
        let (decision, last_use) = match sweep_candidate(key, index) {
            Sweep::Check(replacing) => self.sweep_check(iam, lane, key, &replacing).await,
            other => (other, None),
        };
        let idle = classify::hours(self.sweep_policy().idle_secs);
        let notice = |kind: NoticeKind, secret_arn: &str, reason: String| Notice {
            kind,
            account: account.id.clone(),
            secret: secret_arn.to_owned(),
            user: Some(key.user.clone()),
            key_ids: vec![key.id.clone()],
            reason,
        };
        let notice = match decision {
            Sweep::NotReplaced | Sweep::Check(_) => None,
            Sweep::Keep(why) => {
                finding.reason.push_str(&format!("; not swept: {why}"));
                None
            }
            Sweep::InUse {
                secret_arn,
                replaced_at,
                overdue,
            } => {
                let used = last_use.as_ref().map_or_else(String::new, describe_use);
                finding.reason.push_str(&format!(
                    "; still in use after its replacement on {}{used}",
                    rfc3339(replaced_at)
                ));
                overdue.then(|| {
                    finding.verdict = Verdict::NonCompliant;
                    finding.reason.push_str(&format!(
                        "; past its {idle} idle window by more than {} days: find the consumer and move it to the current key",
                        self.config().old_key_grace_days
                    ));
                    notice(NoticeKind::ReplacedKeyStillInUse, &secret_arn, format!(
                        "replaced on {} and still in use{used}, past its {idle} idle window by more than {} days",
                        rfc3339(replaced_at),
                        self.config().old_key_grace_days
                    ))
                })
            }
            Sweep::Deactivate {
                secret_arn,
                idle_since,
            } => {
                let detail = format!(
                    "replaced by a rotation of secret {secret_arn}, unused since {} ({idle} or more)",
                    rfc3339(idle_since)
                );
                warn!(account = account.label(), user = %key.user, key_id = %key.id,
                      secret_id = %secret_arn, previous_status = "Active",
                      idle_since = %rfc3339(idle_since), "deactivating replaced access key");
                let result =
                    iam_inventory::deactivate_access_key(iam, lane, &key.user, &key.id).await;
                match result {
                    Ok(()) => {
                        // The grace period before deletion counts from here.
                        let record = format!("{}:{}", key.id, self.iam_policy.now);
                        if let Err(e) = iam_inventory::tag_user(
                            iam,
                            lane,
                            &key.user,
                            crate::binding::DEACTIVATED_TAG,
                            &record,
                        )
                        .await
                        {
                            warn!(account = account.label(), user = %key.user, key_id = %key.id,
                                  error = %e, "the deactivation could not be recorded on the user; its grace period will count from the end of its idle window");
                        }
                        finding.reason.push_str("; deactivated by the sweep");
                        finding.action = Some(Action {
                            action: "UpdateAccessKey",
                            succeeded: true,
                            detail: detail.clone(),
                        });
                        Some(notice(
                            NoticeKind::ReplacedKeyDeactivated,
                            &secret_arn,
                            detail,
                        ))
                    }
                    Err(e) => {
                        warn!(account = account.label(), user = %key.user, key_id = %key.id,
                              error = %e, "the sweep could not deactivate the replaced key");
                        finding.action = Some(Action {
                            action: "UpdateAccessKey",
                            succeeded: false,
                            detail: format!("{detail}; deactivation failed ({})", code_of(&e)),
                        });
                        None
                    }
                }
            }
            Sweep::Delete { secret_arn, since } => {
                let detail = format!(
                    "replaced by a rotation of secret {secret_arn}, inactive since {}, more than {} days ago",
                    rfc3339(since),
                    self.config().old_key_grace_days
                );
                warn!(account = account.label(), user = %key.user, key_id = %key.id,
                      secret_id = %secret_arn, previous_status = "Inactive",
                      inactive_since = %rfc3339(since), "deleting replaced access key");
                let result = iam_inventory::delete_access_key(iam, lane, &key.user, &key.id).await;
                match result {
                    Ok(_) => {
                        finding.reason.push_str("; deleted by the sweep");
                        finding.action = Some(Action {
                            action: "DeleteAccessKey",
                            succeeded: true,
                            detail: detail.clone(),
                        });
                        Some(notice(NoticeKind::ReplacedKeyDeleted, &secret_arn, detail))
                    }
                    Err(e) => {
                        warn!(account = account.label(), user = %key.user, key_id = %key.id,
                              error = %e, "the sweep could not delete the replaced key");
                        finding.action = Some(Action {
                            action: "DeleteAccessKey",
                            succeeded: false,
                            detail: format!("{detail}; deletion failed ({})", code_of(&e)),
                        });
                        None
                    }
                }
            }
        };
        if let (Some(n), Some(notifier)) = (notice, &self.auditor.notifier) {
            notifier.publish(&n).await;
        }
        finding
    }

    fn sweep_policy(&self) -> SweepPolicy {
        SweepPolicy {
            idle_secs: i64::try_from(self.config().old_key_idle.as_secs()).unwrap_or(i64::MAX),
            grace_days: self.config().old_key_grace_days,
            now: self.iam_policy.now,
        }
    }

    /// Reads what decides a sweep candidate's fate, right before any change: the user's binding
    /// and deactivation record (GetUser), its keys now (ListAccessKeys) and the key's last use
    /// (GetAccessKeyLastUsed).
    async fn sweep_check(
        &self,
        iam: &aws_sdk_iam::Client,
        lane: &Lane,
        key: &AccessKeyRecord,
        replacing: &[SecretKeyRefs],
    ) -> (Sweep, Option<iam_inventory::LastUsed>) {
        let failed = |what: &str, e: AwsError| {
            (
                Sweep::Keep(format!("{what} cannot be read ({})", code_of(&e))),
                None,
            )
        };
        let user = match iam_inventory::get_user(iam, lane, &key.user).await {
            Ok(u) => u,
            Err(e) => return failed("the user's binding", e),
        };
        let keys = match iam_inventory::list_access_keys(iam, lane, &key.user).await {
            Ok(k) => k,
            Err(e) => return failed("the user's keys", e),
        };
        let last_used = match iam_inventory::last_used(iam, lane, &key.id).await {
            Ok(u) => u,
            Err(e) => return failed("the key's last use", e),
        };
        let decision = sweep_decision(
            key,
            replacing,
            &SweepFacts {
                user_arn: &user.arn,
                binding: user.tag(crate::binding::BINDING_TAG),
                keys: &keys,
                last_used: last_used.date,
                deactivated_at: crate::binding::deactivated_at(
                    user.tag(crate::binding::DEACTIVATED_TAG),
                    &key.id,
                ),
            },
            &self.sweep_policy(),
        );
        (decision, Some(last_used))
    }
}

/// `: last used 2027-01-15T08:00:00Z by s3 in us-east-1`.
fn describe_use(u: &iam_inventory::LastUsed) -> String {
    let Some(at) = u.date else {
        return String::new();
    };
    let mut s = format!(": last used {}", rfc3339(at));
    if let Some(service) = &u.service {
        s.push_str(&format!(" by {service}"));
    }
    if let Some(region) = &u.region {
        s.push_str(&format!(" in {region}"));
    }
    s
}

impl Run<'_> {
    /// Which keys the account's rotation secrets hold, across the audited regions, from the
    /// secrets' tags (ListSecrets; no secret value is read). A region whose secrets cannot be
    /// listed becomes an ERROR finding and makes the index incomplete (the sweep then deletes
    /// nothing).
    async fn secret_index(
        &self,
        account: &Account,
        regions: &[(String, AuditClients)],
        findings: &mut Vec<Finding>,
    ) -> (SecretIndex, Vec<(String, secret_rotation::SecretFacts)>) {
        let per_region =
            futures::future::join_all(regions.iter().map(|(region, clients)| async move {
                let lane = self.lane(account, region);
                iam_inventory::rotation_secrets(&clients.secrets, &lane)
                    .await
                    .map_err(|e| {
                        Finding::scope_error(
                            "secretsmanager:ListSecrets",
                            account.id.as_deref(),
                            Some(region),
                            format!("rotation secrets cannot be listed ({})", code_of(&e)),
                            e.code.as_deref(),
                        )
                    })
            }))
            .await;
        let mut complete = true;
        let (mut refs, mut untracked, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for (region, listed) in regions.iter().map(|(r, _)| r).zip(per_region) {
            match listed {
                Ok(r) => {
                    refs.extend(r.refs);
                    untracked.extend(r.untracked);
                    all.extend(r.all.into_iter().map(|s| (region.clone(), s)));
                }
                Err(f) => {
                    complete = false;
                    findings.push(f);
                }
            }
        }
        (SecretIndex::new(refs, untracked, complete), all)
    }
}

fn outside(account: &str) -> Finding {
    Finding::scope_error(
        "account",
        Some(account),
        None,
        format!("the event comes from account {account}, which this audit does not cover (AUDIT_ROLE_ARNS)"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn audit_clients_retry_adaptively() {
        let r = retry_config();
        assert_eq!(r.mode(), RetryMode::Adaptive);
        assert_eq!(r.max_attempts(), 5);
    }

    #[test]
    fn errors_have_stable_types() {
        let e = AuditError::from(TriggerError::BadDetail("x".into()));
        assert_eq!(Diagnostic::from(e).error_type, "Audit.InvalidEvent");
        assert_eq!(
            Diagnostic::from(AuditError::NoRegion).error_type,
            "Audit.NoRegion"
        );
    }

    #[test]
    fn arn_parts() {
        assert_eq!(
            arn_part("arn:aws:iam::111111111111:role/Audit", 4),
            Some("111111111111")
        );
        assert_eq!(
            arn_part("arn:aws:sts::123456789012:assumed-role/R/s", 4),
            Some("123456789012")
        );
        assert_eq!(arn_part("role/Audit", 4), None);
    }
}
