#!/usr/bin/env bash
# The demo (`make demo`): builds both Lambda binaries, starts moto on 127.0.0.1, runs the binaries
# under cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`, from the
# project venv) while scripts/demo.py plays Secrets Manager and EventBridge, then stops everything.
#
# Usage: scripts/demo.sh [--keep]          (make demo, make demo ARGS=--keep)
#   --keep, DEMO_KEEP=1   leave moto running afterwards (prints how to reach and stop it)
#   DEMO_RELEASE=1        build and run the release profile instead of debug
#   MOTO_PORT=<port>      moto's port (default: a free one)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

case ${DEMO_KEEP:-0} in
  1 | true | yes) keep=1 ;;
  *) keep=0 ;;
esac
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    -h | --help)
      sed -n '2,10s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *)
      echo "demo: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

start=$SECONDS
target=${CARGO_TARGET_DIR:-$root/target}
if [ "${DEMO_RELEASE:-0}" = 1 ]; then
  profile=release
  echo "demo: cargo build --release --bins (release profile: LTO, slower to build)"
  cargo build --release --bins
else
  profile=debug
  echo "demo: cargo build --bins (debug profile, the build cache the tests share; DEMO_RELEASE=1 for release)"
  cargo build --bins
fi
export DEMO_BIN_DIR="$target/$profile"
python="$root/.venv/bin/python"
# moto (requirements-test.txt) and cargo-lambda (requirements-package.txt).
"$root/scripts/venv.sh" requirements-test.txt requirements-package.txt

if [ "$keep" = 0 ]; then
  set +e
  "$root/scripts/with-moto.sh" "$python" "$root/scripts/demo.py"
  rc=$?
  set -e
  echo "demo: moto stopped; $((SECONDS - start)) s in all (build included)"
  exit $rc
fi

# --keep: the same set-up as with-moto.sh, but moto outlives this script once the demo has run.
port=${MOTO_PORT:-$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p "$target"
log="$target/moto-$port.log"
nohup "$root/.venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
kept=0
stop_moto() {
  if [ "$kept" = 0 ]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
}
trap stop_moto EXIT
trap 'exit 130' INT TERM
exports=$("$python" "$root/scripts/moto_bootstrap.py" "http://127.0.0.1:$port")
eval "$exports"
env_file="$target/demo-moto.env"
(
  umask 077
  {
    echo "# moto left running by scripts/demo.sh --keep (pid $moto_pid); stop it with: kill $moto_pid"
    echo "export AWS_ENDPOINT_URL=$MOTO_ENDPOINT"
    echo "export AWS_ACCESS_KEY_ID=$MOTO_ADMIN_ACCESS_KEY_ID"
    echo "export AWS_SECRET_ACCESS_KEY=$MOTO_ADMIN_SECRET_ACCESS_KEY"
    echo "export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1"
    echo "$exports"
  } >"$env_file"
)
echo "moto: $MOTO_ENDPOINT (log: $log)" >&2
set +e
"$python" "$root/scripts/demo.py"
rc=$?
set -e
kept=1
cat <<EOF

moto is still running (pid $moto_pid), with the demo's user, secret and KMS keys:
  endpoint     $MOTO_ENDPOINT   (signatures checked; account 123456789012, us-east-1)
  admin key    $MOTO_ADMIN_ACCESS_KEY_ID  (secret key in the file below, mode 600)
  credentials  source $env_file
  try          .venv/bin/python -c 'import boto3; print(boto3.client("iam").list_access_keys(UserName="demo-alice"))'
               aws secretsmanager describe-secret --secret-id demo/alice-access-key   (with awscli)
  stop it      kill $moto_pid
EOF
exit $rc
