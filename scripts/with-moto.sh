#!/usr/bin/env bash
# Runs a command next to a fresh moto server on 127.0.0.1 (signatures checked), then stops it.
# The command sees MOTO_ENDPOINT, MOTO_ADMIN_ACCESS_KEY_ID, MOTO_ADMIN_SECRET_ACCESS_KEY and
# MOTO_CROSS_ACCOUNT_ROLE_ARN. Usage: scripts/with-moto.sh cargo nextest run
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh" requirements-test.txt
port=${MOTO_PORT:-$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p "$root/target"
log="$root/target/moto-$port.log"
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
}
trap stop_moto EXIT
trap 'exit 130' INT TERM
exports=$("$root/.venv/bin/python" "$root/scripts/moto_bootstrap.py" "http://127.0.0.1:$port")
eval "$exports"
echo "moto: $MOTO_ENDPOINT (log: $log)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
