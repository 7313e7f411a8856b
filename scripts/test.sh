#!/usr/bin/env bash
# Sets everything up (system packages, .venv) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
