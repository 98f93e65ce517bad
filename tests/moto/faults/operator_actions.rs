//! Operator actions converge: Rollback and Cancel with any one of their AWS calls faulted (the
//! request lost, the answer lost, a hang), then run again as an operator would, leave exactly
//! one Active key, the AWSCURRENT one, and no stuck AWSPENDING.

use crate::common::env::*;
use crate::common::proxy::{Fault, Proxy};
use crate::common::rotation::*;
use crate::operator_actions::{action, config, one_live_key, op, rotated_once, stuck};
use futures::StreamExt;

/// The calls of one clean run of `name` through a proxy.
async fn clean_calls(name: &'static str) -> usize {
    let h = Harness::new();
    let (_, secret, _, _) = rotated_once(&h, "op-clean").await;
    if name == "Cancel" {
        h.stuck_rotation(&secret, config()).await;
    }
    let proxy = Proxy::start(&moto_endpoint()).await;
    h.rotator_at(&proxy.url, op())
        .handle_request(action(name, &secret), 0)
        .await
        .unwrap();
    proxy.calls()
}

/// The action with call `k` faulted, then run again (up to three times) as an operator would.
async fn faulted(name: &'static str, k: usize, kind: Fault) -> Result<(), String> {
    let h = Harness::new();
    let (user, secret, k0, k1) = rotated_once(&h, "op-fault").await;
    if name == "Cancel" {
        h.stuck_rotation(&secret, config()).await;
    }
    let proxy = Proxy::start(&moto_endpoint()).await;
    proxy.fail_call(k, kind);
    let rotator = h.rotator_at(&proxy.url, op());
    let mut done = false;
    for _ in 0..3 {
        let outcome = tokio::select! {
            r = rotator.handle_request(action(name, &secret), 0) => Some(r),
            _ = proxy.hung() => None,
        };
        if matches!(outcome, Some(Ok(_))) {
            done = true;
            break;
        }
    }
    if !done {
        return Err(format!("{name} call {k} {kind:?}: still failing"));
    }
    let live = one_live_key(&h, &user, &secret)
        .await
        .map_err(|e| format!("{name} call {k} {kind:?}: {e}"))?;
    let want = if name == "Rollback" { &k0 } else { &k1 };
    if &live != want || stuck(&h.versions(&secret).await) {
        return Err(format!(
            "{name} call {k} {kind:?}: AWSCURRENT {live}, stuck {:?}",
            h.versions(&secret).await
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_and_cancel_converge_after_a_fault_at_any_call() {
    let mut failures = Vec::new();
    for name in ["Rollback", "Cancel"] {
        let n = clean_calls(name).await;
        assert!(n >= 6, "{name}: {n} calls");
        for kind in [Fault::RequestLost, Fault::ResponseLost, Fault::Hang] {
            let results: Vec<Result<(), String>> = futures::stream::iter(1..=n)
                .map(|k| faulted(name, k, kind))
                .buffer_unordered(6)
                .collect()
                .await;
            let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            println!("{name} {kind:?}: converged {}/{n}", n - failed.len());
            failures.extend(failed);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
