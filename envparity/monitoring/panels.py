"""What every envparity panel shares: the matchers of its queries, constructors, threshold steps, runbook links, layout.

Every query selects through the dashboard variables: ``cluster`` and
``namespace`` first (``SCOPE``; labels Prometheus adds, from external labels or
the scrape's target labels, never the collector, so their All value ``.*`` also
matches a series without them), then ``service`` and the pair. Panels follow
Grafana's dashboard-linter rules: every panel has a title, a description and a
unit, counters are read through ``rate()`` or ``increase()`` over
``$__rate_interval``, and every query is PromQL that Prometheus parses (a test
sends each one to a real Prometheus). A threshold line of a check is drawn at
the default of the threshold that judges it (``check_specs.default_threshold``).
A panel showing what an alert fires on links to that alert's runbook section,
at the address the rules give it (``RuleSettings.runbook_url``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from grafanalib.core import (
    DataLink,
    GridPos,
    Panel,
    Stat,
    Table,
    Target,
    TimeSeries,
)

from envparity.collector.parity.check_specs import default_threshold
from envparity.collector.parity.model import SCORE_FAIL_BELOW, SCORE_WARN_BELOW
from envparity.monitoring.rules import RuleSettings, alert_names, rule_groups

Steps = list[dict[str, Any]]
Row = list[tuple[Panel, int]]  # panels of one grid row, each with its width

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TOPOLOGY = ("cluster", "namespace")  # labels Prometheus adds to every series; the collector exports none of them
SCOPE = ", ".join(f'{label}=~"${label}"' for label in TOPOLOGY)
SERVICE = f'{SCOPE}, service="$service"'
PAIR = f'{SERVICE}, baseline="$baseline", target="$target"'
SIDES = f'{SERVICE}, environment=~"$baseline|$target"'
SCORE_STEPS: Steps = [
    {"color": "red", "value": None},
    {"color": "orange", "value": SCORE_FAIL_BELOW},
    {"color": "green", "value": SCORE_WARN_BELOW},
]
COUNT_STEPS: Steps = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
_RULES = RuleSettings()  # the committed rules, whose runbook sections the panels link to
_ALERTS = frozenset(alert_names(rule_groups(_RULES)))


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


def below(value: float) -> Steps:
    """Red below ``value``, green from it on."""
    return [{"color": "red", "value": None}, {"color": "green", "value": value}]


def fails_below(check: str) -> Steps:
    """A line at the default threshold of ``check``, which fails below it."""
    return below(threshold_line(check))


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


def runbooks(alerts: Sequence[str]) -> list[DataLink]:
    """A link to the runbook section of each alert, by its full name; an alert the rules lack is a ``KeyError``."""
    unknown = sorted(set(alerts) - _ALERTS)
    if unknown:
        raise KeyError(f"no alert rule named {', '.join(unknown)}")
    return [DataLink(title=f"Runbook: {alert}", linkUrl=_RULES.runbook_url(alert), isNewTab=True) for alert in alerts]


def _described(title: str, description: str, alerts: Sequence[str]) -> dict[str, Any]:
    """What every panel carries: its title and description, the datasource, and the runbooks of its alerts."""
    return {"title": title, "description": description, "dataSource": DATASOURCE, "links": runbooks(alerts)}


def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[tuple[str, str]],
    steps: Steps | None = None,
    alerts: Sequence[str] = (),
) -> TimeSeries:
    return TimeSeries(
        **_described(title, description, alerts),
        unit=unit,
        targets=_targets(queries),
        thresholds=steps or [{"color": "green", "value": None}],
        thresholdsStyleMode="line" if steps else "off",
        legendDisplayMode="table",
        legendPlacement="right",
    )


def stat(
    title: str, description: str, unit: str, expr: str, steps: Steps | None = None, alerts: Sequence[str] = ()
) -> Stat:
    return Stat(
        **_described(title, description, alerts),
        format=unit,
        targets=[_target(expr)],
        thresholds=steps or [{"color": "blue", "value": None}],
        reduceCalc="lastNotNull",
        graphMode="area",
    )


def table(
    title: str, description: str, unit: str, queries: Sequence[tuple[str, str]], alerts: Sequence[str] = ()
) -> Table:
    return Table(
        **_described(title, description, alerts),
        unit=unit,
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
