"""The envparity Grafana dashboards (grafanalib): which there are, and writing them as the committed JSON files.

Each dashboard is built in its own module (``executive_board``, ``oncall_board``,
``debug_board``, ``gpu_board``) from the shared pieces of ``panels`` and the
frame of ``board``; every query names only catalogued metrics, checks and layers
(``promql``), and the JSON is written in Grafana's current schema
(``grafana_schema``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

from envparity.monitoring import grafana_schema
from envparity.monitoring.debug_board import debug
from envparity.monitoring.executive_board import executive
from envparity.monitoring.gpu_board import gpu
from envparity.monitoring.oncall_board import oncall

BUILDERS: dict[str, Callable[[], Dashboard]] = {"executive": executive, "oncall": oncall, "debug": debug, "gpu": gpu}


def as_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, in its current schema."""
    encoded: dict[str, Any] = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return grafana_schema.current(encoded)


def write(out: Path) -> list[Path]:
    """Write every dashboard as ``envparity-NAME.json`` into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in BUILDERS.items():
        path = out / f"envparity-{name}.json"
        path.write_text(json.dumps(as_json(build()), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
