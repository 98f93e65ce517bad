#!/usr/bin/env bash
# Builds the three Lambda functions as deployment zips (target/lambda/<binary>/bootstrap.zip) with
# cargo-lambda, for arm64 (default) or x86_64, and fails if a zip is larger than the budget.
# Usage: scripts/package.sh            ARCH=x86_64 scripts/package.sh
# Environment: ARCH (arm64 | x86_64), MAX_ZIP_BYTES (default 5,000,000 bytes: the 5 MB budget of
# bench/results.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

arch=${ARCH:-arm64}
case "$arch" in
  arm64 | aarch64) arch_flag=--arm64; target=aarch64-unknown-linux-gnu ;;
  x86_64 | x86-64 | amd64) arch_flag=--x86-64; target=x86_64-unknown-linux-gnu ;;
  *) echo "package: ARCH must be arm64 or x86_64, not '$arch'" >&2; exit 2 ;;
esac
max_bytes=${MAX_ZIP_BYTES:-5000000}
binaries=(rotate-access-key audit-key-rotation remove-root-keys)

"$root/scripts/venv.sh" requirements-package.txt
# cargo-lambda links with zig; the ziglang wheel in the venv provides it (python3 -m ziglang).
export PATH="$root/.venv/bin:$PATH"
if command -v rustup >/dev/null 2>&1; then
  rustup target add "$target" >&2
fi

# cargo-lambda writes <cargo target dir>/lambda/<binary>/bootstrap.zip (CARGO_TARGET_DIR honoured).
target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$root/.venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin_args=()
for bin in "${binaries[@]}"; do
  bin_args+=(--bin "$bin")
  rm -f "$target_dir/lambda/$bin/bootstrap.zip"
done

start=$(date +%s)
cargo lambda build --release "$arch_flag" --output-format zip "${bin_args[@]}"
elapsed=$(($(date +%s) - start))

status=0
for bin in "${binaries[@]}"; do
  zip="$target_dir/lambda/$bin/bootstrap.zip"
  if [ ! -f "$zip" ]; then
    echo "package: $zip was not produced" >&2
    status=1
    continue
  fi
  size=$(stat -c %s "$zip")
  printf '%-20s %9d bytes (%5d KiB)  %s\n' "$bin" "$size" "$((size / 1024))" "$zip"
  if [ "$size" -gt "$max_bytes" ]; then
    echo "package: $bin is $size bytes, over the budget of $max_bytes bytes" >&2
    status=1
  fi
done
echo "package: $arch build took ${elapsed}s" >&2
exit $status
