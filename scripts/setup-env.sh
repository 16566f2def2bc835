#!/usr/bin/env bash
# Installs what Fermion needs into ./.venv from the pinned lock file given as $1 (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements.lock}"
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv
fi
[ -x .venv/bin/python ] || uv venv --quiet --python python3 .venv
# Bytecode is compiled here because machines may set PYTHONDONTWRITEBYTECODE: without .pyc files every
# process (each CLI call, each server role) would compile its imports again, seconds of CPU each.
uv pip sync --quiet --compile-bytecode --python .venv/bin/python "$lock"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/python -m compileall -q -j 0 src >/dev/null
