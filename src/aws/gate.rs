//! Bounds on one audit's AWS calls: at most `AUDIT_CONCURRENCY` in flight across every account
//! and region (a semaphore shared by the invocation), and per account, region and operation a
//! pace below the documented KMS request quotas, so that a large audit stays under them instead
//! of leaning on throttling retries. Also counts the calls, for the report.

use super::error::AwsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The share of a documented quota an audit uses, leaving room for other callers.
const QUOTA_SHARE: f64 = 0.8;

/// Per-second quotas (per account and region; IAM: per account) of the calls an audit makes.
/// KMS documents its quotas. IAM documents none for these reads and throttles an account's
/// whole control plane when pressed, which the rotations of that account feel too: the audit
/// holds each IAM read to 100 a second of its own accord.
pub fn quota_per_second(op: &str) -> Option<f64> {
    Some(match op {
        "kms:DescribeKey" => 2000.0,
        "kms:GetKeyRotationStatus" => 1000.0,
        "kms:ListKeys" => 500.0,
        "kms:ListKeyRotations" => 100.0,
        // Not in the KMS quota table this was written from: assumed to be GetKeyRotationStatus's
        // (one call per customer-managed key, like it), so 10,000 keys keep the same lower bound.
        "kms:GetKeyLastUsage" => 1000.0,
        "kms:EnableKeyRotation" => 15.0,
        "iam:ListUsers" | "iam:ListAccessKeys" | "iam:GetAccessKeyLastUsed" | "iam:GetUser" => {
            100.0
        }
        _ => return None,
    })
}

/// Spaces call starts one interval apart, in the order callers arrive: tokio's `Interval`
/// (a late tick moves the next one, never bursts to catch up) behind a fair lock.
#[derive(Debug)]
pub struct Pace(tokio::sync::Mutex<tokio::time::Interval>);

impl Pace {
    pub fn per_second(rate: f64) -> Self {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(tokio::sync::Mutex::new(interval))
    }

    pub async fn wait(&self) {
        self.0.lock().await.tick().await;
    }
}

/// The per-invocation limit and counters.
#[derive(Debug)]
pub struct Gate {
    permits: Semaphore,
    concurrency: usize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    paces: Mutex<HashMap<PaceKey, Arc<Pace>>>,
}

/// An account and region, and an operation.
type PaceKey = (Arc<str>, &'static str);

/// Decrements the in-flight count however the call ends (also when its future is dropped).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub fn new(concurrency: usize) -> Arc<Self> {
        let concurrency = concurrency.max(1);
        Arc::new(Self {
            permits: Semaphore::new(concurrency),
            concurrency,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            calls: Mutex::new(BTreeMap::new()),
            paces: Mutex::new(HashMap::new()),
        })
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The most calls that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Calls made so far, by operation (`kms:DescribeKey`, ...); paginated calls count per page.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    fn pace(&self, scope: &Arc<str>, op: &'static str) -> Option<Arc<Pace>> {
        let rate = quota_per_second(op)? * QUOTA_SHARE;
        let mut paces = self.paces.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            paces
                .entry((scope.clone(), op))
                .or_insert_with(|| Arc::new(Pace::per_second(rate)))
                .clone(),
        )
    }

    /// Runs one AWS call (`fut`) of operation `op` against `scope` (an account and region).
    pub async fn call<T>(
        &self,
        scope: &Arc<str>,
        op: &'static str,
        fut: impl Future<Output = T>,
    ) -> T {
        self.run(scope, op, fut, |_| true).await
    }

    /// Runs `fut` under the limits and counts it as a call if `counts` says it was one.
    async fn run<T>(
        &self,
        scope: &Arc<str>,
        op: &'static str,
        fut: impl Future<Output = T>,
        counts: impl FnOnce(&T) -> bool,
    ) -> T {
        if let Some(pace) = self.pace(scope, op) {
            pace.wait().await;
        }
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.permits.acquire().await.ok();
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _in_flight = InFlight(&self.in_flight);
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        let out = fut.await;
        if counts(&out) {
            *self
                .calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(op)
                .or_insert(0) += 1;
        }
        out
    }
}

/// A gate bound to one account and region: what the adapters in `aws/` call through. A direct
/// lane (the rotation's) has no limits and counts nothing.
#[derive(Debug, Clone)]
pub struct Lane {
    gate: Option<Arc<Gate>>,
    scope: Arc<str>,
}

impl Lane {
    pub fn new(gate: Arc<Gate>, scope: &str) -> Self {
        Self {
            gate: Some(gate),
            scope: Arc::from(scope),
        }
    }

    /// Calls go straight out: no limit, no pace, no count.
    pub fn direct() -> Self {
        Self {
            gate: None,
            scope: Arc::from(""),
        }
    }

    pub async fn call<T>(&self, op: &'static str, fut: impl Future<Output = T>) -> T {
        match &self.gate {
            Some(gate) => gate.call(&self.scope, op, fut).await,
            None => fut.await,
        }
    }

    /// An SDK request under the lane; its failure as an [`AwsError`] that names `op`.
    pub async fn send<O, E>(
        &self,
        op: &'static str,
        request: impl Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    ) -> Result<O, AwsError>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.call(op, request)
            .await
            .map_err(|e| AwsError::from_sdk(op, e))
    }

    /// The next page of a paginator (`pages.next()`). The paginator answers `None` after the
    /// last page without calling AWS: that is not counted as a call.
    pub async fn page<T>(
        &self,
        op: &'static str,
        next: impl Future<Output = Option<T>>,
    ) -> Option<T> {
        match &self.gate {
            Some(gate) => gate.run(&self.scope, op, next, Option::is_some).await,
            None => next.await,
        }
    }

    /// The next page of an SDK paginator (`pages.next()`), under the lane (see [`Lane::page`]);
    /// its failure as an [`AwsError`] that names `op`.
    pub async fn next_page<O, E>(
        &self,
        op: &'static str,
        next: impl Future<Output = Option<Result<O, SdkError<E, HttpResponse>>>>,
    ) -> Option<Result<O, AwsError>>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.page(op, next)
            .await
            .map(|page| page.map_err(|e| AwsError::from_sdk(op, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream::{self, StreamExt};
    use tokio::time::Instant;

    #[tokio::test]
    async fn never_more_calls_in_flight_than_the_limit() {
        let gate = Gate::new(3);
        let lane = Lane::new(gate.clone(), "123456789012/us-east-1");
        // More callers than permits, each holding its permit across several scheduler turns.
        let done: Vec<u32> = stream::iter(0..40u32)
            .map(|i| {
                let lane = lane.clone();
                async move {
                    lane.call("secretsmanager:ListSecrets", async move {
                        for _ in 0..5 {
                            tokio::task::yield_now().await;
                        }
                        i
                    })
                    .await
                }
            })
            .buffer_unordered(40)
            .collect()
            .await;
        assert_eq!(done.len(), 40);
        assert_eq!(gate.max_in_flight(), 3);
        assert_eq!(gate.calls().get("secretsmanager:ListSecrets"), Some(&40));
        assert_eq!(gate.in_flight.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_keeps_a_call_rate_under_the_quota() {
        let gate = Gate::new(16);
        let lane = Lane::new(gate.clone(), "123456789012/us-east-1");
        let start = Instant::now();
        // EnableKeyRotation: 15/s documented, 12/s used. 25 calls need at least 2 s.
        stream::iter(0..25)
            .map(|_| lane.call("kms:EnableKeyRotation", async {}))
            .buffer_unordered(25)
            .collect::<Vec<_>>()
            .await;
        let took = start.elapsed();
        assert!(took >= Duration::from_secs(2), "{took:?}");
        assert!(took < Duration::from_millis(2100), "{took:?}");
        // Another region has its own quota and does not wait for this one.
        let other = Lane::new(gate.clone(), "123456789012/eu-west-1");
        let t = Instant::now();
        other.call("kms:EnableKeyRotation", async {}).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn the_end_of_a_paginator_is_not_a_call() {
        let gate = Gate::new(2);
        let lane = Lane::new(gate.clone(), "123456789012/us-east-1");
        assert_eq!(lane.page("kms:ListKeys", async { Some(1) }).await, Some(1));
        assert_eq!(lane.page("kms:ListKeys", async { None::<i32> }).await, None);
        assert_eq!(gate.calls().get("kms:ListKeys"), Some(&1));
    }

    #[test]
    fn kms_calls_and_iam_reads_are_paced() {
        assert_eq!(quota_per_second("kms:ListKeyRotations"), Some(100.0));
        for read in [
            "iam:ListUsers",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
        ] {
            assert_eq!(quota_per_second(read), Some(100.0), "{read}");
        }
        assert_eq!(quota_per_second("iam:DeleteAccessKey"), None);
        assert_eq!(quota_per_second("secretsmanager:ListSecrets"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn iam_reads_are_paced_per_account_not_per_region() {
        let gate = Gate::new(16);
        let lane = Lane::new(gate.clone(), "123456789012/global");
        let start = Instant::now();
        // 100/s, 80/s used: 81 calls need at least a second.
        stream::iter(0..81)
            .map(|_| lane.call("iam:ListAccessKeys", async {}))
            .buffer_unordered(81)
            .collect::<Vec<_>>()
            .await;
        let took = start.elapsed();
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took < Duration::from_millis(1100), "{took:?}");
        let other_account = Lane::new(gate.clone(), "111111111111/global");
        let t = Instant::now();
        other_account.call("iam:ListAccessKeys", async {}).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
