"""The benchmarks behind `make bench`: cold start, peak RSS, zip size, AWS calls per rotation and
audit throughput, all from one run on this machine. Prints one table and writes bench/results.md.

Run by scripts/bench.sh (which builds the release binaries and the zips, then runs this under
scripts/with-moto.sh). Needs MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID, MOTO_ADMIN_SECRET_ACCESS_KEY
and BENCH_BIN_DIR (the native release binaries).

Measurements:
  - cold start: process start → the first GET /runtime/invocation/next, under the local Runtime
    API of scripts/lambda_shim.py; median of BENCH_COLD_RUNS runs (after one discarded warm-up),
    the three subjects interleaved so that background load hits them alike;
  - peak RSS: VmHWM of /proc/<pid>/status read after the last invocation, before the process is
    stopped (the kernel's high-water mark: the figure `/usr/bin/time -v` reports as "Maximum
    resident set size");
  - AWS calls: counted and named by the fault proxy of tests/common/proxy.rs, which the binary
    uses as its endpoint (tests/bench.rs serves it);
  - audit throughput: the audit binary against the proxy with a 20 ms delay on every call, the
    KMS calls answered by tests/bench.rs's in-memory KMS (moto is too slow for 10,000 keys; its
    own rate is measured separately as a baseline).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from lambda_shim import LocalLambda  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
UNKNOWN_LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:not-deployed"
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "15"))
DELAY_MS = 20
# Audit runs behind the 20 ms proxy: (keys, concurrency). 10,000 keys at concurrency 1 would take
# 10,000 × 2 calls × 20 ms ≈ 400 s, so it is extrapolated from 1,000 keys.
AUDIT_MATRIX = [(1000, 1), (1000, 16), (1000, 64), (10000, 16), (10000, 64)]
if os.environ.get("BENCH_AUDIT_MATRIX"):  # e.g. "1000x1,10000x64", for a quick look
    AUDIT_MATRIX = [tuple(int(n) for n in run.split("x")) for run in os.environ["BENCH_AUDIT_MATRIX"].split(",")]
MOTO_KEYS = int(os.environ.get("BENCH_MOTO_KEYS", "1000"))

t_start = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - t_start:6.1f}s] {text}", file=sys.stderr, flush=True)


class ArgvLambda(LocalLambda):
    """A LocalLambda whose process is started with arguments (the Python peer)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, **kw):
        self.argv = argv
        super().__init__(argv[0], env, **kw)

    def start(self) -> None:
        real = self.binary
        self.binary = self.argv[0]
        try:
            # LocalLambda.start runs [self.binary]; run the full argv instead.
            self._argv_start()
        finally:
            self.binary = real

    def _argv_start(self) -> None:
        import lambda_shim

        self.api.first_next_at = None
        self.api.init_error = None
        self._cold_recorded = False
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda_shim._die_with_parent,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for t in self._readers:
            t.start()


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
# The AWS side: tests/bench.rs (fault proxy → moto, fault proxy → in-memory KMS, control)
# --------------------------------------------------------------------------------------------


class Upstream:
    def __init__(self):
        log_path = os.path.join(ROOT, "target", "bench", "upstream.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["cargo", "nextest", "run", "--test", "bench", "--run-ignored", "only", "--no-capture"],
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
                raise SystemExit(f"bench: tests/bench.rs stopped before it served (see {log_path})")
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    doc = {}
                if doc.get("bench") == "upstream":
                    break
            if time.monotonic() > deadline:
                raise SystemExit("bench: tests/bench.rs did not start")
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


def cold_starts(bin_dir: str) -> dict:
    subjects = {
        "rotate-access-key": lambda: LocalLambda(os.path.join(bin_dir, "rotate-access-key"), {}),
        "audit-key-rotation": lambda: LocalLambda(os.path.join(bin_dir, "audit-key-rotation"), {}),
        "python-peer": lambda: ArgvLambda([PYTHON, os.path.join(HERE, "python_peer.py")], {}, name="python-peer"),
        # Lambda's provided.al2023 image has one CA bundle and no hashed certificate directory;
        # this machine's /etc/ssl/certs holds the bundle plus one file per CA, all read at init.
        "rotate-access-key, one CA bundle": lambda: LocalLambda(
            os.path.join(bin_dir, "rotate-access-key"),
            {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "SSL_CERT_DIR": "/nonexistent"},
        ),
    }
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in subjects}
    for i in range(COLD_RUNS + 1):
        for name, make in subjects.items():
            fn = make()
            try:
                cold = fn.wait_ready(timeout=30)
                rss = vm_hwm_kib(fn.pid)
            finally:
                fn.close()
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
    return boto3.client(
        service,
        endpoint_url=os.environ["MOTO_ENDPOINT"],
        region_name=REGION,
        aws_access_key_id=os.environ["MOTO_ADMIN_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["MOTO_ADMIN_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32),
    )


def rotations(bin_dir: str, up: Upstream) -> list[dict]:
    iam, sm = admin_client("iam"), admin_client("secretsmanager")
    user = f"bench-{uuid.uuid4().hex[:8]}"
    secret = f"bench/{user}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    value = {
        "UserName": user,
        "AccessKeyId": key["AccessKeyId"],
        "SecretAccessKey": key["SecretAccessKey"],
        "CreateDate": key["CreateDate"].astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    arn = sm.create_secret(Name=secret, SecretString=json.dumps(value))["ARN"]
    # The binding an IAM administrator sets: only this secret may rotate the user's keys.
    iam.tag_user(UserName=user, Tags=[{"Key": "KeyRotationSecret", "Value": arn}])
    up.ctl("/config?keys=0&delay_ms=0")
    results = []
    for label in ("first rotation (user has 1 key)", "second rotation (the replaced key is Inactive)"):
        token = str(uuid.uuid4())
        try:
            sm.rotate_secret(SecretId=secret, ClientRequestToken=token, RotationLambdaARN=UNKNOWN_LAMBDA,
                             RotationRules={"AutomaticallyAfterDays": 90})
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        fn = LocalLambda(os.path.join(bin_dir, "rotate-access-key"),
                         {"OLD_KEY_ACTION": "deactivate", "TEST_TIMEOUT_SECONDS": "30"},
                         endpoint=up.aws, name="rotate-access-key")
        steps = []
        try:
            fn.wait_ready()
            for step in STEPS:
                since = up.ctl("/stats")["aws"]["calls"]
                t0 = time.monotonic()
                ok, result = fn.invoke({"Step": step, "SecretId": secret, "ClientRequestToken": token}, timeout=60)
                took = time.monotonic() - t0
                ops = up.ctl(f"/stats?since={since}")["aws"]["ops"]
                if not ok:
                    raise SystemExit(f"bench: {step} failed: {result}")
                steps.append({"step": step, "ms": took * 1000, "ops": ops})
            rss = vm_hwm_kib(fn.pid)
            cpu = cpu_seconds(fn.pid)
        finally:
            fn.close()
        sm.update_secret_version_stage(SecretId=secret, VersionStage="AWSPENDING", RemoveFromVersionId=token)
        total = sum(len(s["ops"]) for s in steps)
        log(f"{label}: {total} AWS calls, peak RSS {mib(rss)}")
        results.append({"label": label, "steps": steps, "calls": total, "peak_rss_kib": rss, "cpu_s": cpu})
    return results


# --------------------------------------------------------------------------------------------
# Audit throughput
# --------------------------------------------------------------------------------------------


def scheduled_event() -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION, "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/audit-key-rotation-daily"],
        "detail": {},
    }


def diff(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


EXPORT_BUCKET = "bench-key-rotation-reports"


def audit_run(bin_dir: str, up: Upstream, keys: int, concurrency: int, delay_ms: int, kms: str,
              export: bool = False) -> dict:
    """One scheduled audit in a fresh process; `kms` is "stub" (in-memory KMS) or "moto"; with
    `export`, the report goes to S3 and the findings to Security Hub (moto, through the proxy)."""
    up.ctl(f"/config?keys={keys if kms == 'stub' else 0}&delay_ms={delay_ms}")
    before = up.ctl("/stats")
    env = {"AUDIT_CONCURRENCY": str(concurrency), "AWS_ENDPOINT_URL_KMS": up.kms if kms == "stub" else up.aws}
    if export:
        env.update({"REPORT_BUCKET": EXPORT_BUCKET, "SECURITY_HUB": "true"})
    fn = LocalLambda(os.path.join(bin_dir, "audit-key-rotation"), env,
                     endpoint=up.aws, name="audit-key-rotation", timeout=900)
    try:
        fn.wait_ready()
        init_rss = vm_hwm_kib(fn.pid)
        ok, report = fn.invoke(scheduled_event(), timeout=900)
        inv = fn.last_invocation
        rss = vm_hwm_kib(fn.pid)
        cpu = cpu_seconds(fn.pid)
    finally:
        fn.close()
    after = up.ctl("/stats")
    if not ok:
        raise SystemExit(f"bench: audit of {keys} keys at {concurrency} failed: {report}")
    wall = inv.answered_at - inv.delivered_at
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
    log(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; starting tests/bench.rs")
    up = Upstream()
    try:
        log(f"proxy to moto {up.aws}, proxy to the in-memory KMS {up.kms}")
        cold = cold_starts(bin_dir)
        rot = rotations(bin_dir, up)
        audits = [audit_run(bin_dir, up, k, c, DELAY_MS, "stub") for k, c in AUDIT_MATRIX]
        # The same audit of 10,000 keys with the report sent to S3 and the findings to Security Hub.
        admin_client("s3").create_bucket(Bucket=EXPORT_BUCKET)
        export_runs = [audit_run(bin_dir, up, 10000, 64, DELAY_MS, "stub"),
                       audit_run(bin_dir, up, 10000, 64, DELAY_MS, "stub", export=True)]
        log(f"seeding {MOTO_KEYS} KMS keys in moto")
        seed_s = seed_moto_keys(MOTO_KEYS)
        log(f"seeded in {seed_s:.1f} s")
        moto_runs = [audit_run(bin_dir, up, MOTO_KEYS, c, 0, "moto") for c in (16, 64)]
        moto_runs.append(audit_run(bin_dir, up, MOTO_KEYS, 64, DELAY_MS, "moto"))
    finally:
        up.stop()
    load_after = os.getloadavg()
    data = {
        "cold": cold, "rotations": rot, "audits": audits, "moto": moto_runs, "moto_seed_s": seed_s,
        "export": export_runs,
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
