#!/usr/bin/env bash
# Sets everything up (system packages, .venv) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
.venv/bin/ruff check .
.venv/bin/ruff format --check .
bash scripts/typecheck.sh
exec .venv/bin/python -m pytest "$@"
