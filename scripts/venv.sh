#!/usr/bin/env bash
# Creates (or refreshes) the project's Python venv in .venv with the given requirement files.
# Usage: scripts/venv.sh requirements-test.txt [requirements-package.txt]
# Environment: VENV (default .venv) for another venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
fi
for req in "$@"; do
  stamp="$venv/.$(basename "$req").sha"
  want=$(sha256sum "$root/$req" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "venv: installing $req" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/$req"
    echo "$want" > "$stamp"
  fi
done
