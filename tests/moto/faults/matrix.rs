//! The convergence promise, by test: for every AWS call k of a clean rotation and every fault
//! kind (request lost, response lost, Lambda timeout), a rotation whose call k fails, followed
//! by Secrets Manager's retries of the failing step, ends with AWSCURRENT holding a key that
//! authenticates as the user, at most two keys, no orphan, the live key never deleted, and no
//! stuck AWSPENDING. Also a throttling storm.

use crate::common::capture::Handled;
use crate::common::env::*;
use crate::common::moto::{admin_credentials, sdk_config_at, sdk_config_with};
use crate::common::proxy::{Fault, Proxy};
use crate::common::rotation::*;
use crate::common::*;
use aws_key_rotation::rotation::config::RotationConfig;
use aws_key_rotation::rotation::event::Step;
use aws_key_rotation::rotation::Rotator;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Every secret value the runs handled, and every error they returned, for the leak check.
static HANDLED: Handled = Handled::new();
/// The RotationToken every invocation carries, as in a cross-account rotation.
static ROTATION_TOKEN: LazyLock<String> = LazyLock::new(|| unique("rotation-token"));

fn remember_secret(value: &serde_json::Value) {
    if let Some(s) = value["SecretAccessKey"].as_str() {
        HANDLED.secret(s);
    }
}

/// How often the harness re-invokes a failing step, as Secrets Manager retries it.
const STEP_TRIES: usize = 5;
const PARALLEL: usize = 6;

fn config() -> RotationConfig {
    config_with_test_timeout(10)
}

/// A user with a secret that already went through one rotation, so that the faulted rotation
/// exercises every call: deleting the Inactive replaced key, creating, storing, testing, moving
/// the stage and deactivating.
async fn prepared(h: &Harness, name: &str) -> (String, String, String) {
    let user = unique(name);
    let (secret, _, first_key) = h.user_with_secret(&user, json!({})).await;
    HANDLED.secret(first_key);
    h.rotate(&h.rotator(config()), &secret).await;
    let cur = h.key_id(&secret, "AWSCURRENT").await;
    (user, secret, cur)
}

/// The live key is never deleted while it is still AWSCURRENT.
async fn check_live_key(h: &Harness, user: &str, secret: &str, live: &str) -> Result<(), String> {
    let cur = h.current(secret).await;
    if cur["AccessKeyId"] == live && !h.keys(user).await.iter().any(|k| k.id == live) {
        return Err(format!("the AWSCURRENT key {live} was deleted"));
    }
    Ok(())
}

/// Plays a rotation as Secrets Manager does, re-invoking a failing step. `invoke` runs one
/// invocation and may give up on it (a timeout): `None`.
async fn drive<F, Fut>(
    h: &Harness,
    user: &str,
    secret: &str,
    live: &str,
    mut invoke: F,
) -> Result<usize, String>
where
    F: FnMut(Step, String) -> Fut,
    Fut: std::future::Future<Output = Option<Result<(), String>>>,
{
    let token = h.start_rotation(secret).await;
    let mut retries = 0;
    for step in Step::ALL {
        let mut done = false;
        for attempt in 0..STEP_TRIES {
            let outcome = invoke(step, token.clone()).await;
            check_live_key(h, user, secret, live).await?;
            if matches!(outcome, Some(Ok(()))) {
                done = true;
                break;
            }
            if attempt + 1 < STEP_TRIES {
                retries += 1;
            }
        }
        if !done {
            return Err(format!("{step} still failing after {STEP_TRIES} attempts"));
        }
    }
    h.end_rotation(secret, &token).await;
    Ok(retries)
}

async fn invariants(
    h: &Harness,
    user: &str,
    secret: &str,
    live_before: &str,
) -> Result<(), String> {
    let cur = h.current(secret).await;
    let id = cur["AccessKeyId"].as_str().unwrap_or_default();
    let arn = h
        .whoami(id, cur["SecretAccessKey"].as_str().unwrap_or_default())
        .await
        .map_err(|e| format!("AWSCURRENT key {id} does not authenticate: {e}"))?;
    if arn != format!("arn:aws:iam::{ACCOUNT}:user/{user}") {
        return Err(format!("AWSCURRENT authenticates as {arn}"));
    }
    if id == live_before {
        return Err("AWSCURRENT was not rotated".into());
    }
    let keys = h.keys(user).await;
    if keys.len() > 2 {
        return Err(format!("{} keys", keys.len()));
    }
    let mut named: BTreeSet<String> = BTreeSet::new();
    for v in [Some(cur.clone()), h.value(secret, "AWSPENDING").await]
        .into_iter()
        .flatten()
    {
        for f in ["AccessKeyId", "PreviousAccessKeyId"] {
            if let Some(k) = v[f].as_str() {
                named.insert(k.to_owned());
            }
        }
    }
    if let Some(orphan) = keys.iter().find(|k| !named.contains(&k.id)) {
        return Err(format!("orphan key {}", orphan.id));
    }
    let stuck: Vec<_> = h
        .versions(secret)
        .await
        .into_iter()
        .filter(|(_, s)| {
            s.iter().any(|x| x == "AWSPENDING") && !s.iter().any(|x| x == "AWSCURRENT")
        })
        .collect();
    if !stuck.is_empty() {
        return Err(format!("AWSPENDING stuck on {stuck:?}"));
    }
    Ok(())
}

async fn plain_invoke(
    _h: &Harness,
    rotator: &Rotator,
    step: Step,
    secret: &str,
    token: &str,
) -> Option<Result<(), String>> {
    let event = json!({"Step": step.as_str(), "SecretId": secret, "ClientRequestToken": token,
                       "RotationToken": ROTATION_TOKEN.as_str()});
    Some(
        rotator
            .handle(event, 0)
            .await
            .map_err(|e| HANDLED.error(&e)),
    )
}

/// Calls and operations of a clean rotation through the proxy.
async fn clean_rotation_calls(h: &Harness) -> Vec<String> {
    let (user, secret, live) = prepared(h, "fm-clean").await;
    let proxy = Proxy::start(&moto_endpoint()).await;
    let rotator = h.rotator_at(&proxy.url, config());
    drive(h, &user, &secret, &live, |step, token| {
        let (h, r, s) = (&*h, &rotator, secret.clone());
        async move { plain_invoke(h, r, step, &s, &token).await }
    })
    .await
    .unwrap();
    invariants(h, &user, &secret, &live).await.unwrap();
    proxy.ops()
}

/// One faulted rotation; `Ok(step re-invocations)` when it converged.
async fn scenario(k: usize, kind: Fault) -> Result<usize, String> {
    let h = Harness::new();
    let (user, secret, live) = prepared(&h, "fm").await;
    let proxy = Proxy::start(&moto_endpoint()).await;
    proxy.fail_call(k, kind);
    let rotator = h.rotator_at(&proxy.url, config());
    let result = drive(&h, &user, &secret, &live, |step, token| {
        let (h, r, s, p) = (&h, &rotator, secret.clone(), proxy.clone());
        async move {
            tokio::select! {
                r = plain_invoke(h, r, step, &s, &token) => r,
                // The Lambda runs out of time in the middle of call k: its future is dropped.
                _ = p.hung() => None,
            }
        }
    })
    .await;
    let faults = proxy.faults();
    HANDLED.secrets(proxy.secrets_seen());
    for stage in ["AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"] {
        if let Some(v) = h.value(&secret, stage).await {
            remember_secret(&v);
        }
    }
    let checked = async {
        let retries = result?;
        invariants(&h, &user, &secret, &live).await?;
        if faults.len() != 1 || faults[0].0 != k {
            return Err(format!(
                "expected one fault at call {k}, injected {faults:?}"
            ));
        }
        Ok(retries)
    };
    checked
        .await
        .map_err(|e| format!("call {k} {faults:?}: {e}"))
}

/// (converged, scenarios that needed Secrets Manager to re-invoke a step, failures)
async fn matrix(kind: Fault, n: usize) -> (usize, usize, Vec<String>) {
    let results: Vec<Result<usize, String>> = futures::stream::iter(1..=n)
        .map(|k| scenario(k, kind))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let reinvoked = results
        .iter()
        .filter(|r| matches!(r, Ok(n) if *n > 0))
        .count();
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    (n - failures.len(), reinvoked, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_single_fault_converges() {
    let logs = crate::common::capture::Captured::global();
    let h = Harness::new();
    let ops = clean_rotation_calls(&h).await;
    let n = ops.len();
    println!("a clean rotation makes {n} AWS calls: {}", ops.join(", "));
    assert!(n >= 13, "{ops:?}");
    let mut failed = Vec::new();
    for kind in [Fault::RequestLost, Fault::ResponseLost, Fault::Hang] {
        let (converged, reinvoked, failures) = matrix(kind, n).await;
        println!("{kind:?}: converged {converged}/{n} ({reinvoked} needed a step re-invocation, the rest were absorbed by SDK retries)");
        failed.extend(failures.into_iter().map(|f| format!("{kind:?} {f}")));
    }
    let secrets = HANDLED.assert_no_leak(&logs, std::slice::from_ref(&ROTATION_TOKEN));
    assert!(
        secrets >= 3 * n * 2,
        "every scenario handled at least two keys"
    );
    assert!(
        failed.is_empty(),
        "did not converge:\n{}",
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttling_storm_is_absorbed() {
    let h = Harness::new();
    let (user, secret, live) = prepared(&h, "storm").await;
    let proxy = Proxy::start(&moto_endpoint()).await;
    proxy.throttle_share(3, 0x2545_F491_4F6C_DD1D);
    let rotator = h.rotator_at(&proxy.url, config());
    let step_retries = drive(&h, &user, &secret, &live, |step, token| {
        let (h, r, s) = (&h, &rotator, secret.clone());
        async move { plain_invoke(h, r, step, &s, &token).await }
    })
    .await
    .unwrap();
    invariants(&h, &user, &secret, &live).await.unwrap();
    let throttled = proxy.faults().len();
    println!(
        "throttling storm: {throttled} of {} calls throttled, {step_retries} step re-invocations",
        proxy.calls()
    );
    assert!(
        throttled * 5 >= proxy.calls(),
        "the storm should throttle about 30% of calls"
    );
    let _: Value = h.current(&secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_accounts_for_every_key_through_a_throttling_storm() {
    use aws_key_rotation::audit::verdict::Verdict;
    use aws_key_rotation::audit::{config::AuditConfig, Auditor};
    const REGION: &str = "ap-southeast-2";
    let h = Harness::new();
    // The cross-account role's account: few users, and a region no other test uses.
    let creds = h
        .clients
        .sts
        .assume_role(&cross_account_role(), None, "storm-seed")
        .await
        .unwrap()
        .credentials()
        .clone();
    let kms = aws_sdk_kms::Client::new(&sdk_config_with(REGION, creds));
    let mut created = BTreeSet::new();
    for i in 0..12 {
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
        if i % 2 == 0 {
            kms.enable_key_rotation()
                .key_id(key.key_id())
                .send()
                .await
                .unwrap();
        }
        created.insert(key.arn.unwrap());
    }

    let proxy = Proxy::start(&moto_endpoint()).await;
    proxy.throttle_share(3, 0x9E37_79B9_7F4A_7C15);
    let config = AuditConfig {
        regions: vec![REGION.into()],
        role_arns: vec![cross_account_role()],
        ..AuditConfig::default()
    };
    let auditor = Auditor::new(
        aws_key_rotation::aws::AuditAws::new(&sdk_config_at(
            &proxy.url,
            "us-east-1",
            admin_credentials(),
        )),
        config,
    );
    let report = auditor.handle(json!({"version": "0", "id": "storm", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT, "time": "2026-11-23T00:00:00Z", "region": REGION, "resources": [], "detail": {}})).await.unwrap();

    let ours: Vec<_> = report
        .findings
        .iter()
        .filter(|f| created.contains(&f.resource))
        .collect();
    let found: BTreeSet<&String> = ours.iter().map(|f| &f.resource).collect();
    assert_eq!(ours.len(), created.len(), "one finding per key");
    assert_eq!(found.len(), created.len());
    // Other tests rotate keys in that account at the same time; only this test's keys are judged.
    let errors: Vec<_> = ours
        .iter()
        .filter(|f| f.verdict == Verdict::Error)
        .map(|f| (&f.resource, &f.reason))
        .collect();
    assert!(
        errors.is_empty(),
        "ERROR findings under throttling: {errors:?}"
    );
    assert_eq!(
        ours.iter()
            .filter(|f| f.verdict == Verdict::Compliant)
            .count(),
        6
    );
    assert_eq!(
        ours.iter()
            .filter(|f| f.verdict == Verdict::NonCompliant)
            .count(),
        6
    );
    println!(
        "audit storm: {} of {} calls throttled, {} findings, none of this test's keys in ERROR",
        proxy.faults().len(),
        proxy.calls(),
        report.findings.len()
    );
    assert!(proxy.faults().len() * 5 >= proxy.calls());
}

/// The AWS calls of each step of a clean rotation, through the counting proxy.
async fn calls_per_step(
    h: &Harness,
    rotator: &Rotator,
    proxy: &Proxy,
    secret: &str,
) -> Vec<Vec<String>> {
    let token = h.start_rotation(secret).await;
    let mut per_step = Vec::new();
    for step in Step::ALL {
        let before = proxy.calls();
        h.invoke(rotator, step, secret, &token)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        per_step.push(proxy.ops()[before..].to_vec());
    }
    h.end_rotation(secret, &token).await;
    per_step
}

/// The most AWS calls a clean rotation may make (bench/results.md explains each one above the
/// contract's floor of 13).
const CALL_BUDGET: usize = 22;

/// The call budget of a clean rotation, step by step, so that a call added anywhere fails here
/// and has to be explained in bench/results.md. As in `make bench`: OLD_KEY_ACTION=deactivate,
/// one process per rotation (its four steps share it, as they share a warm Lambda container);
/// the first rotation proves the secret holds the key a person made, the second finds the key
/// the first replaced Inactive and deletes it to make room.
#[tokio::test]
async fn a_clean_rotation_stays_within_its_call_budget() {
    const GUARD: &str = "secretsmanager:DescribeSecret";
    let create = |extra: &'static str| {
        vec![
            GUARD,
            "secretsmanager:GetSecretValue",
            "secretsmanager:GetSecretValue",
            "iam:GetUser",
            "iam:ListAccessKeys",
        ]
        .into_iter()
        .chain(match extra {
            "proof" => vec!["sts:GetCallerIdentity", "iam:TagUser"],
            _ => vec!["iam:TagUser", "iam:DeleteAccessKey"],
        })
        .chain([
            "iam:CreateAccessKey",
            "secretsmanager:PutSecretValue",
            "iam:TagUser",
        ])
        .collect::<Vec<_>>()
    };
    let rest = [
        vec![GUARD, "iam:GetUser", "iam:ListAccessKeys"],
        vec![GUARD, "sts:GetCallerIdentity"],
        vec![
            GUARD,
            "iam:GetUser",
            "iam:ListAccessKeys",
            "secretsmanager:UpdateSecretVersionStage",
            "iam:TagUser",
            "secretsmanager:TagResource",
            "iam:UpdateAccessKey",
        ],
    ];
    let h = Harness::new();
    let user = unique("budget");
    let (secret, _, _) = h.user_with_secret(&user, json!({})).await;
    let proxy = Proxy::start(&moto_endpoint()).await;
    for (label, extra) in [("first rotation", "proof"), ("second rotation", "delete")] {
        let rotator = h.rotator_at(
            &proxy.url,
            RotationConfig {
                old_key_action: aws_key_rotation::rotation::config::OldKeyAction::Deactivate,
                ..config()
            },
        );
        let steps = calls_per_step(&h, &rotator, &proxy, &secret).await;
        let total: usize = steps.iter().map(Vec::len).sum();
        println!("{label}: {total} calls");
        for (step, ops) in Step::ALL.iter().zip(&steps) {
            println!("  {step} {}: {}", ops.len(), ops.join(", "));
        }
        let want: Vec<Vec<&str>> = std::iter::once(create(extra))
            .chain(rest.iter().cloned())
            .collect();
        assert_eq!(steps, want, "{label}");
        assert!(total <= CALL_BUDGET, "{label}: {total} calls");
    }
}
