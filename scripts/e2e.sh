#!/usr/bin/env bash
# End to end through the release binaries (the artifacts users deploy, built for this machine)
# under cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`), next to
# moto: retirement of replaced keys, Rollback, Cancel, the notifications and the export
# (scripts/e2e.py). Part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# moto (requirements-test.txt) and cargo-lambda (requirements-package.txt).
"$root/scripts/venv.sh" requirements-test.txt requirements-package.txt
echo "e2e: cargo build --release --bins" >&2
cargo build --release --bins
target_dir=$(cargo metadata --format-version 1 --no-deps | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export E2E_BIN_DIR="$target_dir/release"
exec scripts/with-moto.sh "$root/.venv/bin/python" scripts/e2e.py
