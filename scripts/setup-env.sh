#!/usr/bin/env bash
# Installs what Fermion needs into ./.venv from the pinned lock file given as $1 (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements.lock}"
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv
fi
[ -x .venv/bin/python ] || uv venv --quiet --python python3 .venv
uv pip sync --quiet --python .venv/bin/python "$lock"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
