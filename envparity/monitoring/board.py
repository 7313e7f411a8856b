"""What frames every envparity dashboard: its template variables, the fingerprint-change annotation and its links.

The dashboards share the variables ``datasource`` (the one data source
variable), ``cluster`` and ``namespace`` (for a Prometheus that sees several
clusters: multi-select, All by default, whose value ``.*`` also matches series
without those labels), ``service``, ``baseline``, ``target`` and
``collector_url`` (for the links to the collector's HTML report). Every
dashboard marks each new fingerprint an environment of the service reports
(a deploy that changed packages, config or artifacts) on all its time series,
and links to the other envparity dashboards (tag ``envparity``).
"""

from __future__ import annotations

from typing import Any

from grafanalib.core import Annotations, Dashboard, DashboardLink, Panel, Template, Templating, Time

from envparity.monitoring.panels import DATASOURCE, SCOPE, SERVICE, TOPOLOGY
from envparity.monitoring.promql import select

TAG = "envparity"
REPORT_URL = "${collector_url}/report?service=${service}&baseline=${baseline}&target=${target}"
COLLECTOR_URL = "http://envparity-collector:8400"
ALL = ".*"  # the value of All for cluster and namespace: also matches a series that lacks the label


def _query(name: str, expr: str, label: str, **choice: Any) -> Template:
    return Template(
        name=name,
        label=label,
        query={"query": expr, "refId": f"{name}-query"},
        dataSource=DATASOURCE,
        type="query",
        refresh=2,
        sort=1,
        **choice,
    )


def _topology() -> list[Template]:
    """``cluster``, then ``namespace`` within the chosen clusters: several or All at once."""
    variables: list[Template] = []
    chosen: list[str] = []
    for label in TOPOLOGY:
        values = f"label_values({select('envparity_parity_score', ', '.join(chosen))}, {label})"
        variables.append(_query(label, values, label.capitalize(), includeAll=True, multi=True, allValue=ALL))
        chosen.append(f'{label}=~"${label}"')
    return variables


def _templating() -> Templating:
    score = select("envparity_parity_score")
    return Templating(
        [
            Template(name="datasource", label="Data source", query="prometheus", type="datasource"),
            *_topology(),
            _query("service", f"label_values({score}{{{SCOPE}}}, service)", "Service"),
            _query("baseline", f"label_values({score}{{{SERVICE}}}, baseline)", "Baseline"),
            _query("target", f'label_values({score}{{{SERVICE}, baseline="$baseline"}}, target)', "Target"),
            Template(
                name="collector_url",
                label="Collector URL",
                query=COLLECTOR_URL,
                default=COLLECTOR_URL,
                type="textbox",
            ),
        ]
    )


def fingerprint_changes() -> dict[str, Any]:
    """Grafana's annotation query marking every fingerprint an environment of the service reports for the first time."""
    changes = select("envparity_fingerprint_changes_total", SERVICE)
    return {
        "name": "Fingerprint changes",
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": "orange",
        # increase over $__rate_interval: the window always holds two scrapes, so no change falls between windows
        "target": {"refId": "Anno", "expr": f"increase({changes}[$__rate_interval]) > 0", "interval": ""},
        "titleFormat": "New fingerprint in {{environment}}",
        "textFormat": "{{service}}/{{environment}} reported a fingerprint never seen before: "
        "packages, configuration or artifacts changed.",
        "tagKeys": "environment",
        "useValueForTime": False,
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> Dashboard:
    """A dashboard with the shared variables, annotation, links and time settings."""
    return Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=[TAG],
        timezone="utc",
        refresh="1m",
        time=Time("now-6h", "now"),
        templating=_templating(),
        annotations=Annotations([fingerprint_changes()]),
        links=[
            DashboardLink(
                type="dashboards", tags=[TAG], asDropdown=True, includeVars=True, keepTime=True, title="envparity"
            ),
            DashboardLink(type="link", uri=REPORT_URL, title="HTML report", targetBlank=True, icon="doc"),
        ],
        panels=panels,
    ).auto_panel_ids()
