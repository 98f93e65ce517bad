"""A local Lambda: the Runtime API served on 127.0.0.1, and the function's binary next to it.

The binaries are ordinary custom-runtime executables (`lambda_runtime::run`): they poll
`GET /2018-06-01/runtime/invocation/next` on `AWS_LAMBDA_RUNTIME_API` and post each result back.
This module plays the Lambda service for them, with the standard library only:

    with LocalLambda("target/debug/rotate-access-key", env={"OLD_KEY_ACTION": "deactivate"}) as fn:
        ok, result = fn.invoke({"Step": "createSecret", ...}, timeout=30)
        # ok: result is the decoded response payload
        # not ok: result is {"errorType": ..., "errorMessage": ...}
        for line in fn.logs(): ...

Implemented endpoints (Runtime API 2018-06-01):
  GET  /runtime/invocation/next          blocks until an event is queued
  POST /runtime/invocation/{id}/response
  POST /runtime/invocation/{id}/error    body {"errorType", "errorMessage", ...}
  POST /runtime/init/error

Timings kept for benchmarks: `started_at` (process start), `ready_at` (its first GET /next, the
end of the cold start) and, per invocation, when the event was handed out and answered; all are
`time.monotonic()` values.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ACCOUNT = "123456789012"


@dataclass
class Invocation:
    request_id: str
    body: bytes
    timeout: float
    queued_at: float
    delivered_at: float | None = None
    answered_at: float | None = None
    ok: bool | None = None
    result: Any = None
    done: threading.Event = field(default_factory=threading.Event)

    def answer(self, ok: bool, result: Any) -> None:
        if self.done.is_set():
            return
        self.ok, self.result = ok, result
        self.answered_at = time.monotonic()
        self.done.set()


@dataclass
class LogLine:
    at: float
    stream: str  # "stdout" or "stderr"
    text: str

    def json(self) -> dict | None:
        """The line as a JSON object (a structured log line or an EMF document), if it is one."""
        if not self.text.startswith("{"):
            return None
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class RuntimeApi:
    """The Runtime API of one function: a queue of events and the invocations in flight."""

    def __init__(self, function_arn: str):
        self.function_arn = function_arn
        self.events: queue.Queue[Invocation] = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.first_next_at: float | None = None
        self.init_error: dict | None = None
        self.closed = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                pass

            def do_GET(self):
                if self.path != PREFIX + "/invocation/next":
                    return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                api.note_next()
                inv = api.next_event()
                if inv is None:  # shutting down: the binary is gone or about to be
                    self.close_connection = True
                    return
                deadline_ms = int((time.time() + inv.timeout) * 1000)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(inv.body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", inv.request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", api.function_arn)
                self.send_header("Lambda-Runtime-Trace-Id", trace_id())
                self.end_headers()
                self.wfile.write(inv.body)

            def do_POST(self):
                body = self.read_body()
                path = self.path
                if path == PREFIX + "/init/error":
                    api.init_error = parse_error(body, self.headers)
                    return self.reply(202, {"status": "OK"})
                parts = path[len(PREFIX) :].strip("/").split("/") if path.startswith(PREFIX) else []
                if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                    return self.reply(404, {"errorType": "NotFound", "errorMessage": path})
                with api.lock:
                    inv = api.in_flight.pop(parts[1], None)
                if inv is None:
                    return self.reply(
                        400, {"errorType": "InvalidRequestID", "errorMessage": f"unknown request id {parts[1]}"}
                    )
                if parts[2] == "response":
                    inv.answer(True, decode(body))
                else:
                    inv.answer(False, parse_error(body, self.headers))
                self.reply(202, {"status": "OK"})

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def reply(self, status: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A binary that is stopped mid-request drops its connection; nothing to report.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    def note_next(self) -> None:
        if self.first_next_at is None:
            self.first_next_at = time.monotonic()

    def next_event(self) -> Invocation | None:
        while not self.closed.is_set():
            try:
                inv = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if inv.done.is_set():  # given up on before it was picked up
                continue
            inv.delivered_at = time.monotonic()
            with self.lock:
                self.in_flight[inv.request_id] = inv
            return inv
        return None

    def submit(self, inv: Invocation) -> None:
        self.events.put(inv)

    def abandon(self, inv: Invocation) -> None:
        with self.lock:
            self.in_flight.pop(inv.request_id, None)

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def trace_id() -> str:
    return "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), secrets.token_hex(12), secrets.token_hex(8))


def decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def parse_error(body: bytes, headers) -> dict:
    doc = decode(body)
    if not isinstance(doc, dict):
        doc = {"errorMessage": doc}
    doc.setdefault("errorType", headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled")
    doc.setdefault("errorMessage", "")
    return doc


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the Python process dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LocalLambda:
    """One function: its Runtime API and its binary, started now and restarted if it dies."""

    def __init__(
        self,
        binary: str,
        env: dict[str, str] | None = None,
        *,
        name: str | None = None,
        region: str = "us-east-1",
        endpoint: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        timeout: float = 60.0,
        memory_mb: int = 128,
        log_format: str = "JSON",
        echo=None,
    ):
        """`env` are the function's own variables; `endpoint` and the key default to
        MOTO_ENDPOINT and MOTO_ADMIN_ACCESS_KEY_ID / MOTO_ADMIN_SECRET_ACCESS_KEY.
        `echo`, if given, is called with every LogLine as it arrives."""
        if not os.access(binary, os.X_OK):
            raise FileNotFoundError(f"not an executable: {binary}")
        self.binary = binary
        self.name = name or os.path.basename(binary)
        self.region = region
        self.timeout = timeout
        self.echo = echo
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{self.name}"
        self.api = RuntimeApi(self.function_arn)
        endpoint = endpoint or os.environ.get("MOTO_ENDPOINT")
        access_key_id = access_key_id or os.environ.get("MOTO_ADMIN_ACCESS_KEY_ID")
        secret_access_key = secret_access_key or os.environ.get("MOTO_ADMIN_SECRET_ACCESS_KEY")
        # A clean environment, as in Lambda: nothing leaks in from the caller's shell or ~/.aws.
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
            "AWS_LAMBDA_LOG_FORMAT": log_format,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if endpoint:
            self.env["AWS_ENDPOINT_URL"] = endpoint
        if access_key_id and secret_access_key:
            self.env["AWS_ACCESS_KEY_ID"] = access_key_id
            self.env["AWS_SECRET_ACCESS_KEY"] = secret_access_key
        for var in ("AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "RUST_BACKTRACE"):
            if var in os.environ:
                self.env[var] = os.environ[var]
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.started_at: float | None = None
        self.cold_starts: list[float] = []  # seconds from process start to its first GET /next
        self.lines: list[LogLine] = []
        self._lines_lock = threading.Lock()
        self._last_line_at = 0.0
        self._readers: list[threading.Thread] = []
        self.start()

    # -- process --------------------------------------------------------------------------

    def start(self) -> None:
        self.api.first_next_at = None
        self.api.init_error = None
        self._cold_recorded = False
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, pipe, stream: str) -> None:
        for raw in iter(pipe.readline, b""):
            line = LogLine(time.monotonic(), stream, raw.decode("utf-8", "replace").rstrip("\r\n"))
            with self._lines_lock:
                self.lines.append(line)
                self._last_line_at = line.at
            if self.echo:
                self.echo(line)
        pipe.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def ready_at(self) -> float | None:
        return self.api.first_next_at

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Waits for the first GET /next; returns the cold start in seconds."""
        deadline = time.monotonic() + timeout
        while self.api.first_next_at is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during init: {self._tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not poll for an event within {timeout}s")
            time.sleep(0.005)
        return self._record_cold_start()

    def _record_cold_start(self) -> float | None:
        if self.api.first_next_at is None:
            return None
        cold = self.api.first_next_at - self.started_at
        if not self._cold_recorded:
            self.cold_starts.append(cold)
            self._cold_recorded = True
        return cold

    def _tail(self, n: int = 5) -> str:
        self._settle()
        with self._lines_lock:
            return " | ".join(line.text for line in self.lines[-n:])

    def _settle(self, quiet: float = 0.03, limit: float = 0.5) -> None:
        """Lets the reader threads catch up with what the binary has written."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self._lines_lock:
                last = self._last_line_at
            if time.monotonic() - last >= quiet:
                return
            time.sleep(quiet / 3)

    # -- invocations ----------------------------------------------------------------------

    def invoke(self, event: Any, timeout: float | None = None) -> tuple[bool, Any]:
        """Runs one event. Returns (True, response payload) or (False, {"errorType", "errorMessage"}).

        A timeout or a crash is reported as Lambda reports it (Sandbox.Timedout,
        Runtime.ExitError); the process is then restarted for the next invocation."""
        timeout = self.timeout if timeout is None else timeout
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.last_invocation_started = time.monotonic()
        self._mark = len(self.lines)
        inv = Invocation(
            request_id=str(uuid.uuid4()),
            body=json.dumps(event).encode(),
            timeout=timeout,
            queued_at=time.monotonic(),
        )
        self.api.submit(inv)
        end = inv.queued_at + timeout + 1.0  # the binary sees the deadline; allow it to report
        while not inv.done.wait(0.05):
            if self.proc.poll() is not None:
                self._settle()
                init = self.api.init_error
                if init is not None and inv.delivered_at is None:
                    inv.answer(False, {**init, "errorType": init.get("errorType", "Runtime.InitError")})
                else:
                    inv.answer(
                        False,
                        {
                            "errorType": "Runtime.ExitError",
                            "errorMessage": f"exited with {self.proc.returncode}: {self._tail()}",
                        },
                    )
            elif time.monotonic() > end:
                inv.answer(False, {"errorType": "Sandbox.Timedout", "errorMessage": f"timed out after {timeout}s"})
                self._stop()
        self.api.abandon(inv)
        self._record_cold_start()
        self._settle()
        self.last_invocation = inv
        return inv.ok, inv.result

    def logs(self) -> list[LogLine]:
        """The lines the binary wrote during the last invocation."""
        with self._lines_lock:
            return list(self.lines[getattr(self, "_mark", 0) :])

    # -- shutdown -------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(timeout=1)

    def close(self) -> None:
        self._stop()
        self.api.close()

    def __enter__(self) -> "LocalLambda":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
