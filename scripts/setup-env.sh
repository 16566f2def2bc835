#!/usr/bin/env bash
# Installs what Fermion needs into ./.venv from the pinned lock file given as $1 (idempotent), saying
# what it is doing at each step (a first install downloads and compiles for a minute or two).
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements.lock}"
step() { echo "  setup: $*" >&2; }
if ! command -v uv >/dev/null 2>&1; then
  step "installing uv (the package installer)"
  python3 -m pip install --quiet uv
fi
if [ ! -x .venv/bin/python ]; then
  step "creating the virtualenv .venv"
  uv venv --quiet --python python3 .venv
fi
step "installing the $(grep -c '==' "$lock") pinned packages of $lock"
# Bytecode is compiled here because machines may set PYTHONDONTWRITEBYTECODE: without .pyc files every
# process (each CLI call, each server role) would compile its imports again, seconds of CPU each.
uv pip sync --quiet --compile-bytecode --python .venv/bin/python "$lock"
step "installing Fermion itself (editable)"
uv pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/python -m compileall -q -j 0 src >/dev/null
step "done"
