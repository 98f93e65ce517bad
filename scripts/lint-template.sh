#!/usr/bin/env bash
# Lints the SAM template with cfn-lint (installed into the project's venv); non-zero on any finding.
# Usage: scripts/lint-template.sh [template.yaml]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh" requirements-test.txt
cd "$root"
"$root/.venv/bin/cfn-lint" "${1:-template.yaml}"
echo "cfn-lint: ${1:-template.yaml} is clean" >&2
