//! A fault-injecting HTTP proxy between the rotator and moto. It numbers every AWS call and,
//! per a plan, lets call k be lost before it reaches moto, lose its answer after moto acted,
//! hang after moto acted (a Lambda timeout), or be throttled. A fixed delay before every call
//! (`set_delay`) emulates a remote region.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward and answer.
    Pass,
    /// Close the connection before forwarding: the call never happened.
    RequestLost,
    /// Forward (the call takes effect), then close without answering.
    ResponseLost,
    /// Forward, then never answer; `hung()` fires.
    Hang,
    /// Answer with the service's throttling error without forwarding.
    Throttle,
}

type Plan = Box<dyn FnMut(usize, &str) -> Fault + Send>;

struct State {
    upstream: String,
    calls: AtomicUsize,
    plan: Mutex<Plan>,
    ops: Mutex<Vec<String>>,
    faults: Mutex<Vec<(usize, String, Fault)>>,
    secrets: Mutex<Vec<String>>,
    hung: Notify,
    delay_us: AtomicU64,
}

#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    state: Arc<State>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_owned(),
            calls: AtomicUsize::new(0),
            plan: Mutex::new(Box::new(|_, _| Fault::Pass)),
            ops: Mutex::default(),
            faults: Mutex::default(),
            secrets: Mutex::default(),
            hung: Notify::new(),
            delay_us: AtomicU64::new(0),
        });
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(s.clone(), conn));
            }
        });
        Proxy { url, state }
    }

    pub fn set_plan(&self, plan: impl FnMut(usize, &str) -> Fault + Send + 'static) {
        *self.state.plan.lock().unwrap() = Box::new(plan);
    }

    /// Throttles `tenths`/10 of the calls, chosen by a xorshift generator from `seed`, so that
    /// a run is repeatable.
    pub fn throttle_share(&self, tenths: u64, seed: u64) {
        let mut state = seed.max(1);
        self.set_plan(move |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 10 < tenths {
                Fault::Throttle
            } else {
                Fault::Pass
            }
        });
    }

    /// Fault `kind` at call number `k` (1-based), every other call passes.
    pub fn fail_call(&self, k: usize, kind: Fault) {
        self.set_plan(move |n, _| if n == k { kind } else { Fault::Pass });
    }

    /// Holds every later call this long before acting on it (zero: no delay). The bench uses
    /// it (examples/bench_upstream.rs), no test does.
    #[allow(dead_code)]
    pub fn set_delay(&self, delay: std::time::Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.state.delay_us.store(us, Ordering::SeqCst);
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The operations seen, in order (`iam:CreateAccessKey`, `secretsmanager:PutSecretValue`…).
    pub fn ops(&self) -> Vec<String> {
        self.state.ops.lock().unwrap().clone()
    }

    pub fn faults(&self) -> Vec<(usize, String, Fault)> {
        self.state.faults.lock().unwrap().clone()
    }

    /// Every SecretAccessKey IAM handed out through this proxy (answers lost on the way included).
    pub fn secrets_seen(&self) -> Vec<String> {
        self.state.secrets.lock().unwrap().clone()
    }

    /// Resolves when a call was answered with [`Fault::Hang`].
    pub async fn hung(&self) {
        self.state.hung.notified().await
    }
}

/// The operation a request calls: `X-Amz-Target` (JSON protocols) or `Action=` (query).
fn operation(head: &str, body: &[u8]) -> String {
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("x-amz-target") {
                let v = value.trim();
                let (svc, op) = v.split_once('.').unwrap_or(("json", v));
                let svc = if svc.to_ascii_lowercase().contains("secretsmanager") {
                    "secretsmanager"
                } else if svc.starts_with("TrentService") {
                    "kms"
                } else {
                    svc
                };
                return format!("{svc}:{op}");
            }
        }
    }
    let body = String::from_utf8_lossy(body);
    let action = body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or("unknown");
    let version = body
        .split('&')
        .find_map(|p| p.strip_prefix("Version="))
        .unwrap_or("");
    let svc = match version {
        "2010-05-08" => "iam",
        "2011-06-15" => "sts",
        _ => "query",
    };
    format!("{svc}:{action}")
}

fn throttle_response(json_protocol: bool) -> Vec<u8> {
    let (ctype, body) = if json_protocol {
        (
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        )
    } else {
        (
            "text/xml",
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>".to_owned(),
        )
    };
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One HTTP/1.1 request: (request line and headers, body).
pub async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    Some((head, body))
}

async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    // One request per connection: drop keep-alive, ask for close.
    let mut out = String::new();
    for line in head.trim_end().lines() {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes()).await.ok()?;
    up.write_all(body).await.ok()?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await.ok()?;
    Some(resp)
}

/// Whether the SDK marks the request as its last attempt (`amz-sdk-request: attempt=N; max=N`).
fn last_attempt(head: &str) -> bool {
    let Some(value) = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("amz-sdk-request"))
            .map(|(_, v)| v.to_owned())
    }) else {
        return false;
    };
    let field = |name: &str| {
        value
            .split(';')
            .find_map(|p| p.trim().strip_prefix(name)?.parse::<u32>().ok())
    };
    matches!((field("attempt="), field("max=")), (Some(a), Some(m)) if a >= m)
}

async fn serve(state: Arc<State>, mut conn: TcpStream) {
    // The client may send several requests on one connection; answer each with close.
    let Some((head, body)) = read_request(&mut conn).await else {
        return;
    };
    let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let op = operation(&head, &body);
    state.ops.lock().unwrap().push(op.clone());
    let mut fault = (state.plan.lock().unwrap())(n, &op);
    // A storm throttles calls, not one request for ever: the client's last attempt (its retry
    // budget spent) gets through, as it would once AWS's rate recovers under back-off.
    if fault == Fault::Throttle && last_attempt(&head) {
        fault = Fault::Pass;
    }
    if fault != Fault::Pass {
        state.faults.lock().unwrap().push((n, op.clone(), fault));
    }
    let delay = state.delay_us.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_micros(delay)).await;
    }
    match fault {
        Fault::RequestLost => {}
        Fault::Throttle => {
            let json = head.to_ascii_lowercase().contains("x-amz-target");
            let _ = conn.write_all(&throttle_response(json)).await;
        }
        Fault::Pass | Fault::ResponseLost | Fault::Hang => {
            let Some(mut resp) = forward(&state.upstream, &head, &body).await else {
                return;
            };
            if op == "iam:CreateAccessKey" {
                let text = String::from_utf8_lossy(&resp);
                if let Some((_, rest)) = text.split_once("<SecretAccessKey>") {
                    if let Some((key, _)) = rest.split_once("</SecretAccessKey>") {
                        state.secrets.lock().unwrap().push(key.to_owned());
                    }
                }
            }
            match fault {
                Fault::Pass => {
                    mark_close(&mut resp);
                    let _ = conn.write_all(&resp).await;
                }
                Fault::Hang => {
                    state.hung.notify_one();
                    // Keep the connection open well past the point where the caller gave up.
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
                _ => {}
            }
        }
    }
    let _ = conn.shutdown().await;
}

/// Makes sure the client does not wait for more on this connection.
fn mark_close(resp: &mut Vec<u8>) {
    let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let head = String::from_utf8_lossy(&resp[..end]).to_ascii_lowercase();
    if !head.contains("\r\nconnection:") {
        resp.splice(end..end, b"\r\nConnection: close".iter().copied());
    }
}
