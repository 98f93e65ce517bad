"""The benchmarks behind `make bench`: cold start, peak RSS, zip size, AWS calls per rotation and
audit throughput, all from one run on this machine. Prints one table and writes bench/results.md.

Run by scripts/bench.sh (which builds the release binaries and the zips, then runs this under
scripts/with-moto.sh). Needs MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID, MOTO_ADMIN_SECRET_ACCESS_KEY
and BENCH_BIN_DIR (the native release binaries).

Measurements:
  - cold start: process start → the first GET /runtime/invocation/next, taken by FirstPoll below
    (the only Runtime API code here: cargo-lambda's emulator has no way to tell that moment
    without an extra hop, see FirstPoll); median of BENCH_COLD_RUNS runs (after one discarded
    warm-up), the subjects interleaved so that background load hits them alike;
  - peak RSS: VmHWM of /proc/<pid>/status read after the last invocation, before the process is
    stopped (the kernel's high-water mark: the figure `/usr/bin/time -v` reports as "Maximum
    resident set size");
  - AWS calls: counted and named by the fault proxy of tests/common/proxy.rs, which the binary
    uses as its endpoint (examples/bench_upstream.rs serves it); rotations and audits run under
    cargo-lambda's Runtime API emulator (scripts/local_lambda.py), with scripts/player.py playing
    Secrets Manager, as in the demo;
  - audit throughput: the audit binary against the proxy with a 20 ms delay on every call, the
    KMS calls answered by examples/bench_upstream.rs's in-memory KMS (moto is too slow for 10,000
    keys; its own rate is measured separately as a baseline).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import player  # noqa: E402
from local_lambda import Emulator, Function  # noqa: E402

PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "15"))
DELAY_MS = 20
# Audit runs behind the 20 ms proxy: (keys, concurrency). 10,000 keys at concurrency 1 would take
# 10,000 × 2 calls × 20 ms ≈ 400 s, so it is extrapolated from 1,000 keys.
AUDIT_MATRIX = [(1000, 1), (1000, 16), (1000, 64), (10000, 16), (10000, 64)]
if os.environ.get("BENCH_AUDIT_MATRIX"):  # e.g. "1000x1,10000x64", for a quick look
    AUDIT_MATRIX = [tuple(int(n) for n in run.split("x")) for run in os.environ["BENCH_AUDIT_MATRIX"].split(",")]
MOTO_KEYS = int(os.environ.get("BENCH_MOTO_KEYS", "1000"))
IAM_USERS = int(os.environ.get("BENCH_IAM_USERS", "10000"))

t_start = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - t_start:6.1f}s] {text}", file=sys.stderr, flush=True)


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


# --------------------------------------------------------------------------------------------
# The AWS side: examples/bench_upstream.rs (fault proxy → moto, fault proxy → in-memory KMS, control)
# --------------------------------------------------------------------------------------------


class Upstream:
    def __init__(self):
        log_path = os.path.join(ROOT, "target", "bench", "upstream.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["cargo", "run", "--quiet", "--profile", "bench-tools", "--example", "bench-upstream"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 900
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(
                    f"bench: examples/bench_upstream.rs stopped before it served (see {log_path})"
                )
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    doc = {}
                if doc.get("bench") == "upstream":
                    break
            if time.monotonic() > deadline:
                raise SystemExit("bench: examples/bench_upstream.rs did not start")
        self.control, self.aws, self.kms = doc["control"], doc["aws"], doc["kms"]
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def ctl(self, path: str) -> dict:
        with urllib.request.urlopen(self.control + path, timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        try:
            self.ctl("/stop")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
        self.log.close()


# --------------------------------------------------------------------------------------------
# Cold start
# --------------------------------------------------------------------------------------------


class FirstPoll:
    """Takes the end of a cold start: the moment a process sends its first request to its
    Runtime API (GET /2018-06-01/runtime/invocation/next). It answers nothing; the process is
    stopped once its memory has been read.

    cargo-lambda's emulator does not show that moment directly. Its Extensions API tells a
    registered extension (INVOKE event) when a function takes an event already queued, but that
    notice reached Python a median 1.4 ms after the GET was sent (0.9-13 ms over 20 polls on this
    2-core machine while it built): 7-10 % of a 15-20 ms cold start, and more under load."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.runtime_api = "127.0.0.1:%d" % self.listener.getsockname()[1]  # as Lambda sets it

    def wait(self, fn: Function, timeout: float = 30.0) -> float:
        """Seconds from the start of `fn`'s process to its first request; its connection is
        kept open (the process waits for an answer) until the next call."""
        self.listener.settimeout(0.05)
        end = time.monotonic() + timeout
        while True:
            try:
                conn, _ = self.listener.accept()
                break
            except socket.timeout:
                if fn.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"{fn.name} did not poll for an event: {fn.all_logs()[-3:]}") from None
        conn.settimeout(timeout)
        conn.recv(1)  # the first byte of GET /next
        at = time.monotonic()
        self.conn = conn
        return at - fn.started_at

    def close(self) -> None:
        if getattr(self, "conn", None):
            self.conn.close()
            self.conn = None


def cold_starts(emulator: Emulator, bin_dir: str) -> dict:
    timer = FirstPoll()
    first_poll = {"AWS_LAMBDA_RUNTIME_API": timer.runtime_api}
    rotate, audit = (os.path.join(bin_dir, name) for name in ("rotate-access-key", "audit-key-rotation"))
    subjects = {
        "rotate-access-key": lambda: emulator.function(rotate, first_poll),
        "audit-key-rotation": lambda: emulator.function(audit, first_poll),
        "python-peer": lambda: emulator.function(PYTHON, first_poll, argv=[PYTHON, os.path.join(HERE, "python_peer.py")],
                                                 name="python-peer"),
        # The roots are compiled in (src/aws/tls.rs); SSL_CERT_FILE adds a user's CAs to them. This
        # subject adds this machine's whole bundle (~150 CAs): what a large CA file costs at init.
        "rotate-access-key, one CA bundle": lambda: emulator.function(
            rotate, {**first_poll, "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SSL_CERT_DIR": "/nonexistent"}
        ),
    }
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in subjects}
    for i in range(COLD_RUNS + 1):
        for name, make in subjects.items():
            fn = make()
            try:
                cold = timer.wait(fn)
                rss = vm_hwm_kib(fn.pid)
            finally:
                fn.stop()
                emulator.functions.remove(fn)
                timer.close()
            if i > 0:  # the first round warms the page cache and is not counted
                runs[name].append((cold, rss))
    out = {}
    for name, rs in runs.items():
        colds = sorted(c for c, _ in rs)
        out[name] = {
            "runs": len(rs),
            "median_ms": statistics.median(colds) * 1000,
            "min_ms": colds[0] * 1000,
            "max_ms": colds[-1] * 1000,
            "init_rss_kib": statistics.median(r for _, r in rs),
        }
        log(f"cold start {name}: median {out[name]['median_ms']:.1f} ms over {len(rs)} runs")
    return out


# --------------------------------------------------------------------------------------------
# Rotation: calls per step and peak RSS
# --------------------------------------------------------------------------------------------


def admin_client(service: str):
    return player.client(service)


# Init takes ~20 ms (the cold start above); runs that time an invocation start the process this
# long before it, so that the invocation's time is its own.
INIT_WAIT_S = 0.5


def rotations(emulator: Emulator, bin_dir: str, up: Upstream) -> list[dict]:
    iam, sm = admin_client("iam"), admin_client("secretsmanager")
    user = f"bench-{uuid.uuid4().hex[:8]}"
    secret, _ = player.bound_user(iam, sm, user, f"bench/{user}")
    up.ctl("/config?keys=0&delay_ms=0")
    fn = emulator.function(os.path.join(bin_dir, "rotate-access-key"),
                           {"OLD_KEY_ACTION": "deactivate", "TEST_TIMEOUT_SECONDS": "30"}, endpoint=up.aws)
    results = []
    steps: list[dict] = []
    since = 0

    def before(_step: str) -> None:
        nonlocal since
        since = up.ctl("/stats")["aws"]["calls"]

    def after(o: player.Outcome) -> None:
        steps.append({"step": o.step, "ms": o.seconds * 1000, "ops": up.ctl(f"/stats?since={since}")["aws"]["ops"]})

    for label in ("first rotation (user has 1 key)", "second rotation (the replaced key is Inactive)"):
        steps = []
        fn.restart()  # a fresh process for each rotation
        time.sleep(INIT_WAIT_S)
        try:
            player.rotate(sm, fn, secret, before_step=before, on_step=after)
        except player.StepFailed as e:
            raise SystemExit(f"bench: {e}") from None
        rss = vm_hwm_kib(fn.pid)
        cpu = cpu_seconds(fn.pid)
        fn.stop()
        total = sum(len(s["ops"]) for s in steps)
        log(f"{label}: {total} AWS calls, peak RSS {mib(rss)}")
        results.append({"label": label, "steps": steps, "calls": total, "peak_rss_kib": rss, "cpu_s": cpu})
    return results


# --------------------------------------------------------------------------------------------
# Audit throughput
# --------------------------------------------------------------------------------------------


def diff(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


EXPORT_BUCKET = "bench-key-rotation-reports"


def audit_run(emulator: Emulator, bin_dir: str, up: Upstream, keys: int, concurrency: int, delay_ms: int, kms: str,
              export: bool = False) -> dict:
    """One scheduled audit in a fresh process; `kms` is "stub" (in-memory KMS) or "moto"; with
    `export`, the report goes to S3 and the findings to Security Hub (moto, through the proxy)."""
    up.ctl(f"/config?keys={keys if kms == 'stub' else 0}&delay_ms={delay_ms}")
    before = up.ctl("/stats")
    env = {"AUDIT_CONCURRENCY": str(concurrency), "AWS_ENDPOINT_URL_KMS": up.kms if kms == "stub" else up.aws}
    if export:
        env.update({"REPORT_BUCKET": EXPORT_BUCKET, "SECURITY_HUB": "true"})
    fn = emulator.function(os.path.join(bin_dir, "audit-key-rotation"), env, endpoint=up.aws)
    try:
        time.sleep(INIT_WAIT_S)
        init_rss = vm_hwm_kib(fn.pid)
        ok, report = fn.invoke(player.scheduled_event(), timeout=900)
        rss = vm_hwm_kib(fn.pid)
        cpu = cpu_seconds(fn.pid)
    finally:
        fn.stop()
        emulator.functions.remove(fn)
    after = up.ctl("/stats")
    if not ok:
        raise SystemExit(f"bench: audit of {keys} keys at {concurrency} failed: {report}")
    wall = fn.answered_at - fn.invoked_at
    stats = report.get("stats", {})
    run = {
        "keys": keys, "concurrency": concurrency, "delay_ms": delay_ms, "kms": kms,
        "wall_s": wall, "keys_per_s": keys / wall if wall else 0.0,
        "init_rss_kib": init_rss, "peak_rss_kib": rss, "cpu_s": cpu,
        "upstream_cpu_s": after["cpu_s"] - before["cpu_s"],
        "summary": report.get("summary", {}),
        "max_in_flight": stats.get("max_in_flight"),
        "report_calls": stats.get("aws_calls", {}),
        "kms_calls": diff(after["kms"]["by_op"], before["kms"]["by_op"]) if kms == "stub"
        else {k: v for k, v in diff(after["aws"]["by_op"], before["aws"]["by_op"]).items() if k.startswith("kms:")},
        "other_calls": {k: v for k, v in diff(after["aws"]["by_op"], before["aws"]["by_op"]).items()
                        if not k.startswith("kms:")},
        "throttled": after["kms_upstream"]["throttled"] if kms == "stub" else {},
        "export": report.get("export"),
    }
    log(f"audit {keys} keys, concurrency {concurrency}, delay {delay_ms} ms, KMS {kms}: {wall:.2f} s, "
        f"{run['keys_per_s']:.0f} keys/s, peak RSS {mib(rss)}, CPU {cpu:.1f} s + proxy {run['upstream_cpu_s']:.1f} s, summary {run['summary']}, throttled {run['throttled']}")
    return run


def seed_iam_users(n: int) -> float:
    """n IAM users in moto with one access key each, created by 8 threads; returns the seconds taken."""
    local = threading.local()

    def one(i):
        iam = getattr(local, "iam", None)
        if iam is None:
            iam = local.iam = admin_client("iam")
        name = f"bench-iam-{i:05d}"
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    return time.monotonic() - t0


def seed_moto_keys(n: int) -> float:
    """n symmetric keys with rotation on, created in moto by 8 threads; returns the seconds taken."""
    local = threading.local()

    def one(_):
        kms = getattr(local, "kms", None)
        if kms is None:
            kms = local.kms = admin_client("kms")
        key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id)

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    return time.monotonic() - t0


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def zip_sizes() -> dict:
    out = {}
    for name in ("rotate-access-key", "audit-key-rotation"):
        path = os.path.join(ROOT, "target", "lambda", name, "bootstrap.zip")
        out[name] = os.path.getsize(path) if os.path.exists(path) else None
    return out


def main() -> int:
    bin_dir = os.environ["BENCH_BIN_DIR"]
    load_before = os.getloadavg()
    log(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; starting examples/bench_upstream.rs")
    up = Upstream()
    emulator = Emulator()
    try:
        log(f"proxy to moto {up.aws}, proxy to the in-memory KMS {up.kms}, cargo lambda watch {emulator.address}")
        cold = cold_starts(emulator, bin_dir)
        rot = rotations(emulator, bin_dir, up)
        audits = [audit_run(emulator, bin_dir, up, k, c, DELAY_MS, "stub") for k, c in AUDIT_MATRIX]
        # The same audit of 10,000 keys with the report sent to S3 and the findings to Security Hub.
        admin_client("s3").create_bucket(Bucket=EXPORT_BUCKET)
        export_runs = [audit_run(emulator, bin_dir, up, 10000, 64, DELAY_MS, "stub"),
                       audit_run(emulator, bin_dir, up, 10000, 64, DELAY_MS, "stub", export=True)]
        log(f"seeding {MOTO_KEYS} KMS keys in moto")
        seed_s = seed_moto_keys(MOTO_KEYS)
        log(f"seeded in {seed_s:.1f} s")
        moto_runs = [audit_run(emulator, bin_dir, up, MOTO_KEYS, c, 0, "moto") for c in (16, 64)]
        moto_runs.append(audit_run(emulator, bin_dir, up, MOTO_KEYS, 64, DELAY_MS, "moto"))
        # IAM at scale: IAM_USERS users (one key each) in moto, behind the same delay, no KMS key.
        log(f"seeding {IAM_USERS} IAM users with a key each in moto")
        iam_seed_s = seed_iam_users(IAM_USERS)
        log(f"seeded in {iam_seed_s:.1f} s")
        iam_run = audit_run(emulator, bin_dir, up, 0, 16, DELAY_MS, "stub")
        iam_run["iam_users"] = IAM_USERS
    finally:
        emulator.close()
        up.stop()
    load_after = os.getloadavg()
    data = {
        "cold": cold, "rotations": rot, "audits": audits, "moto": moto_runs, "moto_seed_s": seed_s,
        "export": export_runs, "iam": iam_run, "iam_seed_s": iam_seed_s,
        "moto_keys": MOTO_KEYS, "zips": zip_sizes(), "load_before": load_before, "load_after": load_after,
        "bench_s": time.monotonic() - t_start, "build_s": float(os.environ.get("BENCH_BUILD_SECONDS", "0")),
        "package_s": float(os.environ.get("BENCH_PACKAGE_SECONDS", "0")),
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "cold_runs": COLD_RUNS,
    }
    raw = os.path.join(ROOT, "target", "bench", "results.json")
    with open(raw, "w") as f:
        json.dump(data, f, indent=1)
    import report  # bench/report.py

    table, doc = report.render(data)
    print(table)
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write(doc)
    log(f"wrote bench/results.md (raw figures: {os.path.relpath(raw, ROOT)})")
    return 0


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    py = subprocess.run([PYTHON, "-c", "import sys, boto3; print(sys.version.split()[0], boto3.__version__)"],
                        capture_output=True, text=True).stdout.split()
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem": mem, "kernel": os.uname().release, "rustc": rustc,
            "python": py[0] if py else "?", "boto3": py[1] if len(py) > 1 else "?"}


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
