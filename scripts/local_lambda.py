"""The Lambda binaries run locally under cargo-lambda's Runtime API emulator.

`cargo lambda watch --only-lambda-apis` serves the Runtime API and the Lambda Invoke API on one
port and starts no function itself; this module starts the already-built binary of each function
with exactly the environment wanted, pointed at the emulator, and invokes it through the
emulator's Invoke endpoint (what `cargo lambda invoke` calls):

    with Emulator() as emulator:
        rotator = emulator.function("target/debug/rotate-access-key", {"OLD_KEY_ACTION": "deactivate"})
        ok, result = rotator.invoke({"Step": "createSecret", ...}, timeout=30)
        # ok: result is the response payload; not ok: {"errorType": ..., "errorMessage": ...}
        rotator.restart({"TEST_TIMEOUT_SECONDS": "2"})   # the same function, another environment
        for line in rotator.logs(): ...                 # what it wrote during the last invocation

How cargo-lambda 1.9.2 behaves, and what this module does about it:
  - a function is addressed by name: its Runtime API is `http://<address>/.rt/<name>`, its
    invocations go to `POST /2015-03-31/functions/<name>/invocations`; only names of the
    project's binaries are accepted (anything else: 404 "Missing function");
  - an invocation sent before the binary polls waits in the emulator's queue;
  - a function error comes back as HTTP 500 with the error document the runtime posted;
  - it has no invocation timeout of its own and does not notice a binary that exits: both are
    watched here (Sandbox.Timedout, Runtime.ExitError). The event of such an invocation may still
    be queued (a binary that died during init never took it), and the emulator would hand it to
    the next process; so the emulator is started again (about 0.1 s), and the binary at its next
    invocation, as Lambda starts a new sandbox;
  - every event carries `Lambda-Runtime-Deadline-Ms: 600000` (a fixed number, in 1970), so the
    binaries see no deadline and bound their waits by their own settings only.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in a child before exec: SIGTERM it if this Python process dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:
        pass


def stop(proc: subprocess.Popen | None, kill: bool = False) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill() if kill else proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Emulator:
    """`cargo lambda watch --only-lambda-apis` on 127.0.0.1, stopped on close."""

    def __init__(self):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # The pinned one in the project venv (scripts/venv.sh requirements-package.txt).
        self.exe = os.environ.get("CARGO_LAMBDA") or os.path.join(ROOT, ".venv", "bin", "cargo-lambda")
        log_dir = os.path.join(ROOT, "target")
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(log_dir, f"cargo-lambda-{self.port}.log")
        self.functions: list[Function] = []
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        started = time.monotonic()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [self.exe, "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(self.port), "--manifest-path", os.path.join(ROOT, "Cargo.toml")],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )  # fmt: skip
        while True:  # ready once it accepts connections
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() - started > 30:
                    stop(self.proc)
                    with open(self.log_path) as f:
                        raise RuntimeError(f"cargo lambda watch did not start: {f.read()[-2000:]}") from None
                time.sleep(0.05)
        self.startup_s = time.monotonic() - started

    def reset(self) -> None:
        """A new emulator on the same port, and every function's process stopped (each starts
        again at its next invocation). After an invocation that got no answer: its event may
        still be queued, and this emulator would hand it to the next process."""
        for fn in self.functions:
            fn.stop()
        stop(self.proc, kill=True)  # it would wait for the invocation that got no answer
        self.start()

    def function(self, binary: str, env: dict[str, str] | None = None, **kw) -> "Function":
        fn = Function(self, binary, env, **kw)
        self.functions.append(fn)
        return fn

    def runtime_api(self, name: str) -> str:
        return f"http://{self.address}/.rt/{name}"

    def close(self) -> None:
        for fn in self.functions:
            fn.stop()
        stop(self.proc)

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class LogLine:
    at: float
    stream: str  # "stdout" or "stderr"
    text: str

    def json(self) -> dict | None:
        """The line as a JSON object (a structured log line or an EMF document), if it is one."""
        try:
            value = json.loads(self.text) if self.text.startswith("{") else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class Function:
    """One function: its binary, started with a clean environment (nothing from the caller's
    shell or ~/.aws) plus `env`, under the emulator's Runtime API for `name`."""

    def __init__(self, emulator: Emulator, binary: str, env: dict[str, str] | None = None, *,
                 name: str | None = None, argv: list[str] | None = None, endpoint: str | None = None):
        self.emulator = emulator
        self.argv = argv or [binary]
        if not os.access(self.argv[0], os.X_OK):
            raise FileNotFoundError(f"not an executable: {self.argv[0]}")
        self.name = name or os.path.basename(binary)
        self.endpoint = endpoint or os.environ.get("MOTO_ENDPOINT")
        self.key = os.environ.get("MOTO_ADMIN_ACCESS_KEY_ID")
        self.secret = os.environ.get("MOTO_ADMIN_SECRET_ACCESS_KEY")
        self.lines: list[LogLine] = []
        self._mark = 0
        self._lock = threading.Lock()
        self._pool = cf.ThreadPoolExecutor(4, thread_name_prefix=f"invoke-{self.name}")
        self.proc: subprocess.Popen | None = None
        self.start(env)

    def environment(self, env: dict[str, str] | None) -> dict[str, str]:
        base = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": self.emulator.runtime_api(self.name),
            "AWS_LAMBDA_FUNCTION_NAME": self.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }  # fmt: skip
        if self.endpoint:
            base["AWS_ENDPOINT_URL"] = self.endpoint
        if self.key and self.secret:
            base.update(AWS_ACCESS_KEY_ID=self.key, AWS_SECRET_ACCESS_KEY=self.secret)
        for var in ("AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "RUST_BACKTRACE"):
            if var in os.environ:
                base[var] = os.environ[var]
        return {**base, **(env or {})}

    def start(self, env: dict[str, str] | None = None) -> None:
        """Starts the binary (again); `env` replaces the function's own variables if given."""
        self.stop()
        if env is not None or not hasattr(self, "env"):
            self.env = self.environment(env)
        self.started_at = time.monotonic()
        # No preexec_fn here: it makes Python fork() instead of vfork(), ~13 ms of the parent's
        # time inside every measured cold start. A function process needs no death signal: it
        # exits when its Runtime API (the emulator, which has one, or the bench's timer) goes.
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._readers = [threading.Thread(target=self._read, args=(pipe, stream), daemon=True)
                         for pipe, stream in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for t in self._readers:
            t.start()

    restart = start

    def _read(self, pipe, stream: str) -> None:
        for raw in iter(pipe.readline, b""):
            line = LogLine(time.monotonic(), stream, raw.decode("utf-8", "replace").rstrip("\r\n"))
            with self._lock:
                self.lines.append(line)
        pipe.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _post(self, body: bytes, timeout: float) -> tuple[bool, Any]:
        url = f"http://{self.emulator.address}/2015-03-31/functions/{self.name}/invocations"
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = response.read()
                return True, json.loads(data) if data else None
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                doc = json.loads(data)
            except ValueError:
                doc = None
            if e.code == 500 and isinstance(doc, dict) and "errorType" in doc:
                return False, doc  # the function's error, as the runtime posted it
            raise RuntimeError(f"cargo lambda watch answered {e.code}: {data[:500]!r}") from None

    def invoke(self, event: Any, timeout: float = 60.0) -> tuple[bool, Any]:
        """Runs one event: (True, response payload) or (False, {"errorType", "errorMessage"}).
        A timeout or an exit is reported as Lambda reports it and the binary is started again."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        with self._lock:
            self._mark = len(self.lines)
        self.invoked_at = time.monotonic()
        pending = self._pool.submit(self._post, json.dumps(event).encode(), timeout + 5)
        end = self.invoked_at + timeout
        while True:
            try:
                ok, result = pending.result(timeout=0.05)
                break
            except cf.TimeoutError:
                pass
            if self.proc.poll() is not None:
                ok, result = False, {"errorType": "Runtime.ExitError",
                                     "errorMessage": f"exited with {self.proc.returncode}: {self._tail()}"}
                self.emulator.reset()
                break
            if time.monotonic() > end:
                ok, result = False, {"errorType": "Sandbox.Timedout", "errorMessage": f"timed out after {timeout}s"}
                self.emulator.reset()
                break
        self.answered_at = time.monotonic()
        self._settle()
        return ok, result

    def _settle(self, quiet: float = 0.03, limit: float = 0.5) -> None:
        """Lets the reader threads catch up with what the binary has written."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self._lock:
                last = self.lines[-1].at if self.lines else 0.0
            if time.monotonic() - last >= quiet:
                return
            time.sleep(quiet / 3)

    def _tail(self, n: int = 5) -> str:
        self._settle()
        with self._lock:
            return " | ".join(line.text for line in self.lines[-n:])

    def logs(self) -> list[LogLine]:
        """The lines the binary wrote during the last invocation."""
        with self._lock:
            return self.lines[self._mark :]

    def all_logs(self) -> list[LogLine]:
        with self._lock:
            return list(self.lines)

    def stop(self) -> None:
        stop(self.proc)
        for t in getattr(self, "_readers", []):
            t.join(timeout=1)
