#!/usr/bin/env bash
# The deploy path as a new user takes it, and the artifacts it makes (`make artifact`, not part
# of `make test`): `sam validate --lint`, then `sam build` with samconfig.toml's settings into an
# empty build directory, then the demo (scripts/demo.py: a rotation and an audit against moto)
# with the two arm64 `bootstrap` files SAM built, run under qemu-user on an x86_64 host.
#
# Installs what it needs: aws-sam-cli in .venv-deploy (requirements-deploy.txt), moto and
# cargo-lambda in .venv, and on x86_64 Debian's qemu-user-static and libc6-arm64-cross (the
# arm64 glibc the binaries load; apt-get, as root or through sudo).
# Environment: ARTIFACT_SKIP_BUILD=1 runs the demo on the existing .aws-sam/build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS

"$root/scripts/venv.sh" requirements-test.txt requirements-package.txt
VENV="$root/.venv-deploy" "$root/scripts/venv.sh" requirements-deploy.txt
# sam runs cargo-lambda from PATH, as it would for a user; cargo-lambda finds zig as `python3 -m
# ziglang`, so the python3 first on PATH is the venv's that holds the ziglang wheel.
export PATH="$root/.venv/bin:$root/.venv-deploy/bin:$PATH"
export SAM_CLI_TELEMETRY=0

build_dir="$root/.aws-sam/build"
if [ "${ARTIFACT_SKIP_BUILD:-0}" != 1 ]; then
  echo "artifact: sam validate --lint" >&2
  sam validate --lint
  rm -rf "$build_dir"
  echo "artifact: sam build (samconfig.toml: $(grep -E '^parallel' samconfig.toml))" >&2
  t=$SECONDS
  sam build
  echo "artifact: sam build took $((SECONDS - t)) s" >&2
fi

# The architecture the template deploys by default, and what SAM built.
declare -A function_of=([rotate-access-key]=RotatorFunction [audit-key-rotation]=AuditFunction)
bin_dir="$root/target/artifact-bin"
rm -rf "$bin_dir"
mkdir -p "$bin_dir"
runner=()
if [ "$(uname -m)" != aarch64 ]; then
  if ! command -v qemu-aarch64-static >/dev/null 2>&1 || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "artifact: apt-get install qemu-user-static libc6-arm64-cross" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq qemu-user-static libc6-arm64-cross >&2
  fi
  runner=("$(command -v qemu-aarch64-static)" -L /usr/aarch64-linux-gnu)
fi
for bin in "${!function_of[@]}"; do
  bootstrap="$build_dir/${function_of[$bin]}/bootstrap"
  if [ ! -x "$bootstrap" ]; then
    echo "artifact: $bootstrap is missing: sam build did not make it" >&2
    exit 1
  fi
  machine=$(od -An -tu2 -j18 -N2 "$bootstrap" | tr -d ' ')
  if [ "$machine" != 183 ]; then # EM_AARCH64
    echo "artifact: $bootstrap is not an arm64 ELF (e_machine $machine)" >&2
    exit 1
  fi
  echo "artifact: $bin = $bootstrap ($(du -h "$bootstrap" | cut -f1))" >&2
  # The functions start with a clean environment: the wrapper names everything by full path.
  {
    echo '#!/bin/sh'
    echo "exec ${runner[*]} '$bootstrap' \"\$@\""
  } >"$bin_dir/$bin"
  chmod +x "$bin_dir/$bin"
done

echo "artifact: the demo with the arm64 bootstraps${runner:+ under qemu-user}" >&2
DEMO_BIN_DIR="$bin_dir" "$root/scripts/with-moto.sh" "$root/.venv/bin/python" "$root/scripts/demo.py"
echo "artifact: $((SECONDS - start)) s in all" >&2
