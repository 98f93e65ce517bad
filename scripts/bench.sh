#!/usr/bin/env bash
# The benchmarks (`make bench`, not part of `make test`): builds the native release binaries and
# the Lambda zips, then measures cold start, peak RSS, zip size, AWS calls per rotation and audit
# throughput against a fresh moto (bench/bench.py, with examples/bench_upstream.rs serving the
# fault proxy and cargo-lambda's emulator running the binaries).
# Prints one table and writes bench/results.md (raw figures: target/bench/results.json).
# Environment: BENCH_SKIP_PACKAGE=1 (reuse existing zips), BENCH_COLD_RUNS (default 15),
# BENCH_MOTO_KEYS (default 1000).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS

"$root/scripts/venv.sh" requirements-test.txt requirements-package.txt

t=$SECONDS
echo "bench: cargo build --release --bins" >&2
cargo build --release --bins
export BENCH_BUILD_SECONDS=$((SECONDS - t))

t=$SECONDS
if [ "${BENCH_SKIP_PACKAGE:-0}" != 1 ]; then
  echo "bench: scripts/package.sh (cargo lambda build --release, arm64 zips)" >&2
  "$root/scripts/package.sh"
fi
export BENCH_PACKAGE_SECONDS=$((SECONDS - t))

echo "bench: building examples/bench_upstream.rs" >&2
cargo build --profile bench-tools --example bench-upstream

target_dir=$(cargo metadata --format-version 1 --no-deps |
  "$root/.venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export BENCH_BIN_DIR="$target_dir/release"
"$root/scripts/with-moto.sh" "$root/.venv/bin/python" "$root/bench/bench.py"
echo "bench: $((SECONDS - start)) s in all (builds included)" >&2
