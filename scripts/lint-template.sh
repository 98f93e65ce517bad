#!/usr/bin/env bash
# Lints the CloudFormation templates with cfn-lint (installed into the project's venv); non-zero on
# any finding. Without arguments: the SAM template and the member-account roles.
# Usage: scripts/lint-template.sh [template.yaml ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh" requirements-test.txt
cd "$root"
if [ "$#" -eq 0 ]; then
  set -- template.yaml member-roles.yaml
fi
"$root/.venv/bin/cfn-lint" "$@"
echo "cfn-lint: $* clean" >&2
