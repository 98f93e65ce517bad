//! The AWS side of `make bench` (scripts/bench.sh, bench/bench.py); not part of `make test`.
//!
//! It serves, until told to stop:
//! - the fault proxy in front of moto (`aws`): every call the Lambda binaries make to IAM, STS
//!   and Secrets Manager goes through it, numbered and named, so the bench counts them per step;
//! - the fault proxy in front of a KMS stand-in (`kms`): an in-memory KMS with N symmetric
//!   customer-managed keys (rotation on), answering ListKeys, DescribeKey, GetKeyRotationStatus,
//!   ListKeyRotations and GetKeyLastUsage (each key last used a day ago) in microseconds and throttling above the documented per-second quotas,
//!   so that an audit of 10,000 keys measures the binary and the 20 ms the proxy adds, not moto;
//! - a control endpoint: `GET /config?keys=N&delay_ms=D` (key count; delay of both proxies),
//!   `GET /stats` (calls seen so far, by proxy and operation; throttled answers), `GET /stop`.
//!
//! Run: `scripts/with-moto.sh cargo run --example bench-upstream` (it reads `MOTO_ENDPOINT`).
//! It prints one JSON line `{"bench": "upstream", "control": …, "aws": …, "kms": …}`.

// The fault proxy of the tests; the bench uses its call counting and delay, not its faults.
#[allow(dead_code)]
#[path = "../tests/common/proxy.rs"]
mod proxy;

use proxy::{read_request, Proxy};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const REGION: &str = "us-east-1";

/// Documented KMS request quotas per second (account and region).
fn kms_quota(op: &str) -> Option<usize> {
    Some(match op {
        "DescribeKey" => 2000,
        "GetKeyRotationStatus" => 1000,
        "ListKeys" => 500,
        "ListKeyRotations" => 100,
        // Not documented: taken as GetKeyRotationStatus's, as the audit paces it.
        "GetKeyLastUsage" => 1000,
        _ => return None,
    })
}

#[derive(Default)]
struct Kms {
    keys: AtomicUsize,
    /// Start times of the calls of the last second, per operation.
    window: Mutex<HashMap<String, VecDeque<Instant>>>,
    throttled: Mutex<BTreeMap<String, u64>>,
    answered: Mutex<BTreeMap<String, u64>>,
    created: AtomicU64,
}

fn key_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i as u32, i)
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Kms {
    /// True when the call is over its quota (it is then answered with a throttling error).
    fn over_quota(&self, op: &str) -> bool {
        let Some(quota) = kms_quota(op) else {
            return false;
        };
        let now = Instant::now();
        let mut window = self.window.lock().unwrap();
        let seen = window.entry(op.to_owned()).or_default();
        while seen
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            seen.pop_front();
        }
        if seen.len() >= quota {
            *self
                .throttled
                .lock()
                .unwrap()
                .entry(op.to_owned())
                .or_default() += 1;
            return true;
        }
        seen.push_back(now);
        false
    }

    fn answer(&self, op: &str, input: &Value) -> Result<Value, (&'static str, String)> {
        let keys = self.keys.load(Ordering::SeqCst);
        let id_of = |input: &Value| -> Result<String, (&'static str, String)> {
            let given = input["KeyId"].as_str().unwrap_or_default();
            let id = given.rsplit('/').next().unwrap_or(given).to_owned();
            let index = id
                .rsplit('-')
                .next()
                .and_then(|n| usize::from_str_radix(n, 16).ok());
            match index {
                Some(i) if i < keys && key_id(i) == id => Ok(id),
                _ => Err(("NotFoundException", format!("Key '{given}' does not exist"))),
            }
        };
        *self
            .answered
            .lock()
            .unwrap()
            .entry(op.to_owned())
            .or_default() += 1;
        match op {
            "ListKeys" => {
                let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
                let start: usize = input["Marker"]
                    .as_str()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                let end = (start + limit).min(keys);
                let page: Vec<Value> = (start..end)
                    .map(|i| json!({"KeyId": key_id(i), "KeyArn": key_arn(&key_id(i))}))
                    .collect();
                let mut out = json!({"Keys": page, "Truncated": end < keys});
                if end < keys {
                    out["NextMarker"] = json!(end.to_string());
                }
                Ok(out)
            }
            "DescribeKey" => {
                let id = id_of(input)?;
                let created = self.created.load(Ordering::SeqCst) as f64;
                Ok(json!({"KeyMetadata": {
                    "AWSAccountId": ACCOUNT, "KeyId": id, "Arn": key_arn(&id),
                    "CreationDate": created, "Enabled": true, "Description": "",
                    "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS",
                    "KeyManager": "CUSTOMER", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                    "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                    "MultiRegion": false
                }}))
            }
            "GetKeyRotationStatus" => {
                let id = id_of(input)?;
                Ok(json!({
                    "KeyId": key_arn(&id), "KeyRotationEnabled": true, "RotationPeriodInDays": 365,
                    "NextRotationDate": epoch() + 200.0 * 86400.0
                }))
            }
            "ListKeyRotations" => {
                id_of(input)?;
                Ok(json!({"Rotations": [], "Truncated": false}))
            }
            "GetKeyLastUsage" => {
                let id = id_of(input)?;
                let created = self.created.load(Ordering::SeqCst) as f64;
                Ok(json!({
                    "KeyId": key_arn(&id), "KeyCreationDate": created, "TrackingStartDate": created,
                    "KeyLastUsage": {"Timestamp": epoch() - 86400.0, "Operation": "Decrypt"}
                }))
            }
            _ => Err((
                "UnsupportedOperationException",
                format!("the bench's KMS does not implement {op}"),
            )),
        }
    }

    fn stats(&self) -> Value {
        json!({
            "keys": self.keys.load(Ordering::SeqCst),
            "answered": *self.answered.lock().unwrap(),
            "throttled": *self.throttled.lock().unwrap(),
        })
    }

    fn reset(&self, keys: usize) {
        self.keys.store(keys, Ordering::SeqCst);
        self.created
            .store((epoch() - 30.0 * 86400.0) as u64, Ordering::SeqCst);
        self.window.lock().unwrap().clear();
        self.throttled.lock().unwrap().clear();
        self.answered.lock().unwrap().clear();
    }
}

async fn respond(conn: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nx-amzn-RequestId: bench\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body).await;
    let _ = conn.shutdown().await;
}

async fn serve_kms(kms: Arc<Kms>, mut conn: TcpStream) {
    let Some((head, body)) = read_request(&mut conn).await else {
        return;
    };
    let target = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .map(|(_, v)| v.trim().to_owned())
    });
    let op = target
        .as_deref()
        .and_then(|t| t.strip_prefix("TrentService."))
        .unwrap_or("unknown")
        .to_owned();
    let ctype = "application/x-amz-json-1.1";
    if kms.over_quota(&op) {
        let err = json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
        return respond(
            &mut conn,
            "400 Bad Request",
            ctype,
            err.to_string().as_bytes(),
        )
        .await;
    }
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match kms.answer(&op, &input) {
        Ok(out) => respond(&mut conn, "200 OK", ctype, out.to_string().as_bytes()).await,
        Err((code, message)) => {
            let err = json!({"__type": code, "message": message});
            respond(
                &mut conn,
                "400 Bad Request",
                ctype,
                err.to_string().as_bytes(),
            )
            .await
        }
    }
}

/// User + system CPU time of this process so far (Linux; 0 elsewhere).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // USER_HZ is 100 on Linux.
    f.iter().sum::<u64>() as f64 / 100.0
}

fn by_op(ops: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for op in ops {
        *out.entry(op.clone()).or_default() += 1;
    }
    out
}

fn query(path: &str) -> HashMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

struct Bench {
    kms: Arc<Kms>,
    aws_proxy: Proxy,
    kms_proxy: Proxy,
    stop: Notify,
}

async fn serve_control(bench: Arc<Bench>, mut conn: TcpStream) {
    let Some((head, _)) = read_request(&mut conn).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let q = query(&path);
    let reply = match path.split('?').next().unwrap_or("") {
        "/config" => {
            let keys = q.get("keys").and_then(|v| v.parse().ok()).unwrap_or(0);
            let delay: u64 = q.get("delay_ms").and_then(|v| v.parse().ok()).unwrap_or(0);
            bench.kms.reset(keys);
            bench.aws_proxy.set_delay(Duration::from_millis(delay));
            bench.kms_proxy.set_delay(Duration::from_millis(delay));
            json!({"keys": keys, "delay_ms": delay})
        }
        "/stats" => {
            // `since`: the number of `aws` calls already seen; only later ones are listed.
            let since: usize = q.get("since").and_then(|v| v.parse().ok()).unwrap_or(0);
            let aws_ops = bench.aws_proxy.ops();
            let kms_ops = bench.kms_proxy.ops();
            json!({
                "aws": {"calls": aws_ops.len(), "ops": aws_ops.get(since..).unwrap_or(&[]),
                        "by_op": by_op(&aws_ops)},
                "kms": {"calls": kms_ops.len(), "by_op": by_op(&kms_ops)},
                "kms_upstream": bench.kms.stats(),
                "cpu_s": own_cpu_seconds(),
            })
        }
        "/stop" => {
            bench.stop.notify_one();
            json!({"stopping": true})
        }
        other => json!({"error": format!("unknown control path {other}")}),
    };
    respond(
        &mut conn,
        "200 OK",
        "application/json",
        reply.to_string().as_bytes(),
    )
    .await;
}

/// The account the in-memory KMS answers for (moto's).
const ACCOUNT: &str = "123456789012";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kms = Arc::new(Kms::default());
    kms.reset(0);
    let kms_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let kms_url = format!("http://{}", kms_listener.local_addr().unwrap());
    let k = kms.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = kms_listener.accept().await {
            tokio::spawn(serve_kms(k.clone(), conn));
        }
    });
    let bench = Arc::new(Bench {
        kms,
        aws_proxy: Proxy::start(&moto_endpoint()).await,
        kms_proxy: Proxy::start(&kms_url).await,
        stop: Notify::new(),
    });
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!(
        "{}",
        json!({
            "bench": "upstream",
            "control": format!("http://{}", control.local_addr().unwrap()),
            "aws": bench.aws_proxy.url,
            "kms": bench.kms_proxy.url,
        })
    );
    let b = bench.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = control.accept().await {
            tokio::spawn(serve_control(b.clone(), conn));
        }
    });
    // Stops when asked, or after an hour in case the driver died without asking.
    tokio::select! {
        _ = bench.stop.notified() => {}
        _ = tokio::time::sleep(Duration::from_secs(3600)) => panic!("never told to stop"),
    }
    println!(
        "{}",
        json!({"bench": "stopped", "aws_calls": bench.aws_proxy.calls(), "kms_calls": bench.kms_proxy.calls()})
    );
}

/// The moto server `scripts/with-moto.sh` started.
fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| panic!("MOTO_ENDPOINT is not set: run through scripts/with-moto.sh"))
}
