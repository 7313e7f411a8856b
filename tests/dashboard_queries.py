"""The committed dashboards' panel queries, and the values their variables take in the tests."""

from __future__ import annotations

import json
from typing import Any

from helpers import REPO

DASHBOARDS_DIR = REPO / "dashboards"
RUNBOOK = REPO / "docs" / "runbooks.md"
VARIABLES = {
    "$cluster": ".*",  # All, as the dashboards define it
    "$namespace": ".*",
    "$service": "fraud",
    "$baseline": "production",
    "$target": "staging",
    "$__rate_interval": "1m",
    "${datasource}": "prometheus",
}


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    for name, value in sorted({**VARIABLES, **(values or {})}.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def dashboard_files() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel target."""
    return [
        (file, panel["title"], target["expr"])
        for file, board in dashboard_files().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]
