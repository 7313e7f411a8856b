#!/usr/bin/env bash
# Sets everything up (.venv) and runs the end-to-end demo on an embedded DuckDB file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/envparity demo "$@"
