#!/usr/bin/env bash
# Type-checks agent/, collector/ and envparity/ as the installed package tree (mypy, settings in pyproject.toml).
# agent/ and collector/ install as envparity.agent and envparity.collector (package-dir), which an
# editable install maps with an import hook that mypy cannot follow; a tree of links gives mypy that layout.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=.work/typecheck
rm -rf "$tree" && mkdir -p "$tree/envparity"
for f in envparity/*; do ln -s "../../../$f" "$tree/envparity/"; done
ln -s ../../../agent "$tree/envparity/agent"
ln -s ../../../collector "$tree/envparity/collector"
MYPYPATH="$tree" exec .venv/bin/mypy -p envparity "$@"
