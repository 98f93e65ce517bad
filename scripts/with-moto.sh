#!/usr/bin/env bash
# Runs a command next to a fresh moto server on 127.0.0.1 (signatures checked; scripts/moto_server.py
# adds the KMS call moto lacks, GetKeyLastUsage), then stops it.
# The command sees MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID, MOTO_ADMIN_SECRET_ACCESS_KEY and
# MOTO_CROSS_ACCOUNT_ROLE_ARN, and MOTO_UNSIGNED_ENDPOINT: a second moto server that checks no
# signature, for SNS and SQS (moto recomputes the signature of a form-encoded body from the
# parsed form, with spaces as "+", so every SNS Publish whose text has a space fails its check
# when the Rust SDK sends "%20"). Usage: scripts/with-moto.sh cargo nextest run
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh" requirements-test.txt
port=${MOTO_PORT:-$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p "$root/target"
log="$root/target/moto-$port.log"
"$root/.venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
unsigned_port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$unsigned_port" >"$root/target/moto-$unsigned_port.log" 2>&1 &
unsigned_pid=$!
stop_moto() {
  kill "$moto_pid" "$unsigned_pid" 2>/dev/null || true
  wait "$moto_pid" "$unsigned_pid" 2>/dev/null || true
}
trap stop_moto EXIT
trap 'exit 130' INT TERM
exports=$("$root/.venv/bin/python" "$root/scripts/moto_bootstrap.py" "http://127.0.0.1:$port")
eval "$exports"
export MOTO_UNSIGNED_ENDPOINT="http://127.0.0.1:$unsigned_port"
echo "moto: $MOTO_ENDPOINT (log: $log)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
