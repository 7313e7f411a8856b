#!/usr/bin/env python3
"""Writes the Kubernetes manifests generated from alerts/ and dashboards/ (a PrometheusRule, dashboard
ConfigMaps) into deploy/kustomize/base/monitoring; with --check, writes nothing and exits 1 if they are stale.

Run after `envparity alerts build` or `envparity dashboards build`: .venv/bin/python scripts/generate-manifests.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from envparity.monitoring.kubernetes import render

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale manifests (exit 1)")
    args = parser.parse_args()
    stale = []
    for relative, text in render(REPO).items():
        path = REPO / relative
        if path.exists() and path.read_text() == text:
            continue
        stale.append(relative)
        if not args.check:
            path.write_text(text)
        print(f"{'stale' if args.check else 'wrote'}: {relative}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
