"""What every envparity dashboard shares: panel constructors, threshold steps, grid layout, variables and links.

The dashboards share the template variables ``datasource`` (the one data source
variable), ``service``, ``baseline``, ``target`` and ``collector_url`` (for the
links to the collector's HTML report), link to each other (tag ``envparity``)
and follow Grafana's dashboard-linter rules: every panel has a title, a
description and a unit, counters are read through ``rate()`` over
``$__rate_interval``, and every query is PromQL that Prometheus parses (a test
sends each one to a real Prometheus). A threshold line of a check is drawn at
the default of the threshold that judges it (``check_specs.default_threshold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from grafanalib.core import (
    Dashboard,
    DashboardLink,
    GridPos,
    Panel,
    Stat,
    Table,
    Target,
    Template,
    Templating,
    Time,
    TimeSeries,
)

from envparity.collector.parity.check_specs import default_threshold
from envparity.monitoring.promql import select

Steps = list[dict[str, Any]]
Row = list[tuple[Panel, int]]  # panels of one grid row, each with its width

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PAIR = 'service="$service", baseline="$baseline", target="$target"'
SERVICE = 'service="$service"'
SIDES = 'service="$service", environment=~"$baseline|$target"'
TAG = "envparity"
SCORE_STEPS: Steps = [
    {"color": "red", "value": None},
    {"color": "orange", "value": 80},
    {"color": "green", "value": 95},
]
COUNT_STEPS: Steps = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
REPORT_URL = "${collector_url}/report?service=${service}&baseline=${baseline}&target=${target}"
COLLECTOR_URL = "http://envparity-collector:8400"


def above(value: float, color: str = "red") -> Steps:
    """Green below ``value``, ``color`` from it on."""
    return [{"color": "green", "value": None}, {"color": color, "value": value}]


def threshold_line(check: str) -> float:
    value = default_threshold(check)
    if value is None:
        raise ValueError(f"no threshold judges the check {check!r}: it has no line to draw")
    return value


def fails_above(check: str) -> Steps:
    """A line at the default threshold of ``check``, which fails above it."""
    return above(threshold_line(check))


def fails_below(check: str) -> Steps:
    """A line at the default threshold of ``check``, which fails below it."""
    return [{"color": "red", "value": None}, {"color": "green", "value": threshold_line(check)}]


def _target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Target:
    return Target(
        expr=expr,
        legendFormat=legend,
        refId=ref,
        instant=instant,
        format="table" if instant else "time_series",
        datasource=DATASOURCE,
    )


def _targets(queries: Sequence[tuple[str, str]], instant: bool = False) -> list[Target]:
    return [_target(expr, legend, chr(ord("A") + i), instant) for i, (expr, legend) in enumerate(queries)]


def timeseries(
    title: str, description: str, unit: str, queries: Sequence[tuple[str, str]], steps: Steps | None = None
) -> TimeSeries:
    return TimeSeries(
        title=title,
        description=description,
        unit=unit,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        thresholds=steps or [{"color": "green", "value": None}],
        thresholdsStyleMode="line" if steps else "off",
        legendDisplayMode="table",
        legendPlacement="right",
    )


def stat(title: str, description: str, unit: str, expr: str, steps: Steps | None = None) -> Stat:
    return Stat(
        title=title,
        description=description,
        format=unit,
        dataSource=DATASOURCE,
        targets=[_target(expr)],
        thresholds=steps or [{"color": "blue", "value": None}],
        reduceCalc="lastNotNull",
        graphMode="area",
    )


def table(title: str, description: str, unit: str, queries: Sequence[tuple[str, str]]) -> Table:
    return Table(
        title=title,
        description=description,
        unit=unit,
        dataSource=DATASOURCE,
        targets=_targets(queries, instant=True),
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}},
        ],
    )


def layout(rows: Sequence[Row], height: int = 8) -> list[Panel]:
    """Panels placed row by row on Grafana's 24-column grid; each entry is (panel, width)."""
    placed = []
    for y, row in enumerate(rows):
        x = 0
        for panel, width in row:
            placed.append(attrs.evolve(panel, gridPos=GridPos(h=height, w=width, x=x, y=y * height)))
            x += width
    return placed


def _query(name: str, expr: str, label: str) -> Template:
    return Template(
        name=name,
        label=label,
        query={"query": expr, "refId": f"{name}-query"},
        dataSource=DATASOURCE,
        type="query",
        refresh=2,
        sort=1,
    )


def _templating() -> Templating:
    score = select("envparity_parity_score")
    return Templating(
        [
            Template(name="datasource", label="Data source", query="prometheus", type="datasource"),
            _query("service", f"label_values({score}, service)", "Service"),
            _query("baseline", f'label_values({score}{{service="$service"}}, baseline)', "Baseline"),
            _query("target", f'label_values({score}{{service="$service", baseline="$baseline"}}, target)', "Target"),
            Template(
                name="collector_url",
                label="Collector URL",
                query=COLLECTOR_URL,
                default=COLLECTOR_URL,
                type="textbox",
            ),
        ]
    )


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> Dashboard:
    """A dashboard with the shared variables, links and time settings."""
    return Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=[TAG],
        timezone="utc",
        refresh="1m",
        time=Time("now-6h", "now"),
        templating=_templating(),
        links=[
            DashboardLink(
                type="dashboards", tags=[TAG], asDropdown=True, includeVars=True, keepTime=True, title="envparity"
            ),
            DashboardLink(type="link", uri=REPORT_URL, title="HTML report", targetBlank=True, icon="doc"),
        ],
        panels=panels,
    ).auto_panel_ids()
