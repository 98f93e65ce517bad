#!/usr/bin/env bash
# End to end through the Lambda binaries, built for this machine in the `ci` profile (the
# shipped release code paths, compiled without optimisation; E2E_PROFILE=release for the shipped
# profile itself, fat LTO) under cargo-lambda's Runtime API emulator
# (`cargo lambda watch --only-lambda-apis`), next to moto: retirement of replaced keys, Rollback, Cancel, the notifications,
# the export, and what remove-root-keys refuses before any AssumeRoot
# (scripts/e2e.py). Part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# moto (requirements-test.txt) and cargo-lambda (requirements-package.txt).
"$root/scripts/venv.sh" requirements-test.txt requirements-package.txt
profile=${E2E_PROFILE:-ci}
if [ "$profile" = ci ]; then
  # The binaries of `make test`'s own build (nextest's `--all-targets`): with the test targets
  # selected, cargo resolves the features as nextest did (the dev-dependencies switch on the SDK
  # crates' `test-util` features, which add test constructors and change no code path the
  # binaries run), so the SDK crates are not compiled a second time.
  build=(--all-targets)
else
  build=(--bins)
fi
echo "e2e: cargo build --profile $profile ${build[*]}" >&2
cargo build --profile "$profile" "${build[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export E2E_BIN_DIR="$target_dir/$profile"
exec scripts/with-moto.sh "$root/.venv/bin/python" scripts/e2e.py
