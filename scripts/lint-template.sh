#!/usr/bin/env bash
# Lints the CloudFormation templates; non-zero on any finding. Without arguments: the SAM
# template, the member-account roles, the member-account event rules and the root-keys
# function's SAM template.
# - cfn-lint (in the project's venv, .venv), informational checks included (-I: for example an
#   explicit DeletionPolicy and UpdateReplacePolicy on every stateful resource).
# - checkov (in a venv of its own, .venv-lint: its pins are not moto's), its CloudFormation
#   checks only and offline: --skip-download and BC_SKIP_MAPPING keep it from fetching its
#   guidelines or anything else. A check a resource does not need is skipped in that resource's
#   Metadata (checkov: skip: id and comment), never here.
# Usage: scripts/lint-template.sh [template.yaml ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh" requirements-test.txt
VENV="$root/.venv-lint" "$root/scripts/venv.sh" requirements-lint.txt
cd "$root"
if [ "$#" -eq 0 ]; then
  set -- template.yaml member-roles.yaml member-events.yaml root-keys.yaml
fi
"$root/.venv/bin/cfn-lint" --include-checks I -- "$@"
echo "cfn-lint: $* clean" >&2
files=()
for f in "$@"; do
  files+=(--file "$f")
done
BC_SKIP_MAPPING=TRUE "$root/.venv-lint/bin/checkov" --skip-download --framework cloudformation \
  --compact --quiet "${files[@]}"
echo "checkov: $* clean" >&2
