"""Grafana dashboards for envparity (grafanalib), reading only the metrics of the catalogue.

Four dashboards share the template variables ``datasource`` (the one data
source variable), ``service``, ``baseline``, ``target`` and ``collector_url``
(for the links to the collector's HTML report), link to each other (tag
``envparity``) and follow Grafana's dashboard-linter rules: every panel has a
title, a description and a unit, counters are read through ``rate()`` over
``$__rate_interval``, and every query is PromQL that Prometheus parses (a test
sends each one to a real Prometheus).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from grafanalib._gen import DashboardEncoder
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

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PAIR = 'service="$service", baseline="$baseline", target="$target"'
SERVICE = 'service="$service"'
SIDES = 'service="$service", environment=~"$baseline|$target"'
TAG = "envparity"
SCORE_STEPS = [{"color": "red", "value": None}, {"color": "orange", "value": 80}, {"color": "green", "value": 95}]
PSI_STEPS = [{"color": "green", "value": None}, {"color": "orange", "value": 0.1}, {"color": "red", "value": 0.25}]
COUNT_STEPS = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
REPORT_URL = "${collector_url}/report?service=${service}&baseline=${baseline}&target=${target}"


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
    title: str, description: str, unit: str, queries: Sequence[tuple[str, str]], steps: list | None = None
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


def stat(title: str, description: str, unit: str, expr: str, steps: list | None = None) -> Stat:
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


def _layout(rows: Sequence[Sequence[tuple[Panel, int]]], height: int = 8) -> list[Panel]:
    """Panels placed row by row on Grafana's 24-column grid; each entry is (panel, width)."""
    placed = []
    for y, row in enumerate(rows):
        x = 0
        for panel, width in row:
            placed.append(attrs.evolve(panel, gridPos=GridPos(h=height, w=width, x=x, y=y * height)))
            x += width
    return placed


def _templating() -> Templating:
    def query(name: str, expr: str, label: str) -> Template:
        return Template(
            name=name,
            label=label,
            query={"query": expr, "refId": f"{name}-query"},
            dataSource=DATASOURCE,
            type="query",
            refresh=2,
            sort=1,
        )

    return Templating(
        [
            Template(name="datasource", label="Data source", query="prometheus", type="datasource"),
            query("service", "label_values(envparity_parity_score, service)", "Service"),
            query("baseline", 'label_values(envparity_parity_score{service="$service"}, baseline)', "Baseline"),
            query(
                "target",
                'label_values(envparity_parity_score{service="$service", baseline="$baseline"}, target)',
                "Target",
            ),
            Template(
                name="collector_url",
                label="Collector URL",
                query="http://envparity-collector:8400",
                default="http://envparity-collector:8400",
                type="textbox",
            ),
        ]
    )


def _dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> Dashboard:
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


def executive() -> Dashboard:
    return _dashboard(
        "envparity-executive",
        "envparity / Executive",
        "Does the target behave like its baseline? Parity score, its trend, and the field's parity metrics.",
        _layout(
            [
                [
                    (
                        stat(
                            "Parity score",
                            "Score 0-100 of the latest evaluation of the pair (mean of the layer scores).",
                            "percent",
                            f"envparity_parity_score{{{PAIR}}}",
                            SCORE_STEPS,
                        ),
                        6,
                    ),
                    (
                        timeseries(
                            "Parity score of every pair of the service",
                            "Trend of the score of each baseline and target pair evaluated for the service.",
                            "percent",
                            [('envparity_parity_score{service="$service"}', "{{baseline}} -> {{target}}")],
                            SCORE_STEPS,
                        ),
                        18,
                    ),
                ],
                [
                    (
                        timeseries(
                            "Failing checks per layer",
                            "Checks of the pair whose status is fail, per layer and fingerprint dimension.",
                            "none",
                            [(f"sum by (layer) (envparity_failing_checks{{{PAIR}}})", "{{layer}}")],
                            COUNT_STEPS,
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "Layer scores",
                            "Sub-score 0-100 of every layer and fingerprint dimension of the pair.",
                            "percent",
                            [(f"envparity_parity_layer_score{{{PAIR}}}", "{{layer}}")],
                            SCORE_STEPS,
                        ),
                        12,
                    ),
                ],
                [
                    (
                        stat(
                            "Config drift rate",
                            "New fingerprints (package, config or artifact changes) reported by the service's "
                            "environments, per hour.",
                            "none",
                            'sum(rate(envparity_fingerprint_changes_total{service="$service"}[$__rate_interval])) '
                            "* 3600",
                        ),
                        6,
                    ),
                    (
                        stat(
                            "Schema parity",
                            "Share of the compared features whose name and type match between target and baseline.",
                            "percentunit",
                            f'1 - (count(envparity_check_status{{{PAIR}, layer="data", check="schema"}} == 2) '
                            "or vector(0)) / "
                            f'count(count by (subject) (envparity_check_status{{{PAIR}, layer="data"}}))',
                        ),
                        6,
                    ),
                    (
                        stat(
                            "Artifact parity",
                            "Share of the model artifacts and aliases identical in target and baseline.",
                            "percentunit",
                            f'envparity_fingerprint_parity_ratio{{{PAIR}, dimension="artifacts"}}',
                        ),
                        6,
                    ),
                    (
                        stat(
                            "Telemetry coverage",
                            "Share of the service's environments with an agent that reported in the last 5 minutes.",
                            "percentunit",
                            '(count(envparity_environment_agents{service="$service"} > 0) or vector(0)) / '
                            'count(envparity_environment_agents{service="$service"})',
                        ),
                        6,
                    ),
                ],
            ]
        ),
    )


def _quantile(q: float) -> tuple[str, str]:
    rate = f"rate(envparity_request_duration_seconds_bucket{{{SIDES}}}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by (environment, le) ({rate}))", f"{{{{environment}}}} p{round(q * 100)}"


def oncall() -> Dashboard:
    requests = f"sum by (environment) (rate(envparity_requests_total{{{SIDES}}}[$__rate_interval]))"
    errors = f"sum by (environment) (rate(envparity_request_errors_total{{{SIDES}}}[$__rate_interval]))"
    return _dashboard(
        "envparity-oncall",
        "envparity / On-call",
        "What fails now and since when; baseline and target side by side.",
        _layout(
            [
                [
                    (
                        table(
                            "Failing checks now",
                            "Every check of the pair whose latest status is fail (2), with its measured value.",
                            "none",
                            [
                                (f"envparity_check_status{{{PAIR}}} == 2", "status"),
                                (
                                    f"envparity_check_value{{{PAIR}}} and on (layer, check, subject) "
                                    f"envparity_check_status{{{PAIR}}} == 2",
                                    "value",
                                ),
                            ],
                        ),
                        12,
                    ),
                    (
                        table(
                            "Firing since",
                            "Alerts of the service, pending or firing, and the time each became active.",
                            "dateTimeAsIso",
                            [('max by (alertname, target, subject) (ALERTS_FOR_STATE{service="$service"})', "")],
                        ),
                        12,
                    ),
                ],
                [
                    (
                        timeseries(
                            "Request rate",
                            "Requests per second served by baseline and target, counted by their agents.",
                            "reqps",
                            [(requests, "{{environment}}")],
                        ),
                        8,
                    ),
                    (
                        timeseries(
                            "Error rate",
                            "Share of requests that failed, baseline and target side by side.",
                            "percentunit",
                            [(f"({errors} or {requests} * 0) / {requests}", "{{environment}}")],
                        ),
                        8,
                    ),
                    (
                        timeseries(
                            "Latency p50 / p95 / p99",
                            "Latency quantiles of baseline and target from the agents' exact histograms.",
                            "s",
                            [_quantile(0.5), _quantile(0.95), _quantile(0.99)],
                        ),
                        8,
                    ),
                ],
                [
                    (
                        timeseries(
                            "Latency ratio target / baseline",
                            "Ratio of the target's latency quantiles to the baseline's (the check fails above 1.2).",
                            "none",
                            [(f'envparity_check_value{{{PAIR}, check=~"latency_.*_ratio"}}', "{{check}}")],
                            [{"color": "green", "value": None}, {"color": "red", "value": 1.2}],
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "Agent freshness",
                            "Seconds since the newest snapshot of every environment of the service arrived.",
                            "s",
                            [
                                (
                                    f"time() - envparity_environment_last_snapshot_timestamp_seconds{{{SERVICE}}}",
                                    "{{environment}}",
                                )
                            ],
                            [{"color": "green", "value": None}, {"color": "red", "value": 600}],
                        ),
                        12,
                    ),
                ],
            ]
        ),
    )


def debug() -> Dashboard:
    data = f'{PAIR}, layer="data"'
    return _dashboard(
        "envparity-debug",
        "envparity / Debug",
        "Per-feature drift, fingerprint differences, prediction drift and shadow agreement of one pair.",
        _layout(
            [
                [
                    (
                        table(
                            "Per-feature drift",
                            "PSI, KS statistic and null rate of every numeric feature in the target, side by side.",
                            "none",
                            [
                                (f'envparity_check_value{{{data}, check="psi"}}', "psi"),
                                (f'envparity_check_value{{{data}, check="ks"}}', "ks"),
                                (f'envparity_check_value{{{data}, check="null_rate"}}', "null_rate"),
                            ],
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "PSI per feature",
                            "Population stability index of each feature over time (warn 0.1, fail 0.25).",
                            "none",
                            [(f'envparity_check_value{{{data}, check="psi"}}', "{{subject}}")],
                            PSI_STEPS,
                        ),
                        12,
                    ),
                ],
                [
                    (
                        table(
                            "Fingerprint differences",
                            "Packages, config keys, artifacts and compute that differ (1 warn, 2 fail).",
                            "none",
                            [(f'envparity_check_status{{{PAIR}, layer=~"fingerprint\\\\..*"}} > 0', "status")],
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "Prediction and confidence drift",
                            "Drift statistics of the prediction and confidence distributions; the report draws them.",
                            "none",
                            [
                                (
                                    f'envparity_check_value{{{PAIR}, layer="prediction", '
                                    f'check=~"psi|ks|wasserstein|mean_shift"}}',
                                    "{{subject}} {{check}}",
                                )
                            ],
                        ),
                        12,
                    ),
                ],
                [
                    (
                        timeseries(
                            "Shadow agreement",
                            "Share of mirrored requests (same request id) on which target and baseline agree.",
                            "percentunit",
                            [(f'envparity_check_value{{{PAIR}, check="shadow_agreement"}}', "agreement")],
                            [{"color": "red", "value": None}, {"color": "green", "value": 0.98}],
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "Feature-vector mismatches",
                            "Share of mirrored requests whose feature differs beyond the tolerance, per feature.",
                            "percentunit",
                            [(f'envparity_check_value{{{PAIR}, check="feature_equality"}}', "{{subject}}")],
                            COUNT_STEPS,
                        ),
                        12,
                    ),
                ],
            ]
        ),
    )


def _gpu(metric: str) -> tuple[str, str]:
    return f"{metric}{{{SIDES}}}", "{{environment}} GPU {{gpu}} {{model_name}} ({{hostname}})"


def gpu() -> Dashboard:
    return _dashboard(
        "envparity-gpu",
        "envparity / GPU",
        "GPU telemetry of baseline and target (dcgm-exporter metric names), read by the agents through NVML.",
        _layout(
            [
                [
                    (
                        timeseries(
                            "GPU utilisation",
                            "Share of time a kernel ran, per GPU (DCGM_FI_DEV_GPU_UTIL).",
                            "percent",
                            [_gpu("DCGM_FI_DEV_GPU_UTIL")],
                        ),
                        12,
                    ),
                    (
                        timeseries(
                            "GPU memory used",
                            "Framebuffer memory in use per GPU (DCGM_FI_DEV_FB_USED).",
                            "mbytes",
                            [_gpu("DCGM_FI_DEV_FB_USED")],
                        ),
                        12,
                    ),
                ],
                [
                    (
                        timeseries(
                            "GPU temperature",
                            "Temperature of each GPU (DCGM_FI_DEV_GPU_TEMP).",
                            "celsius",
                            [_gpu("DCGM_FI_DEV_GPU_TEMP")],
                            [{"color": "green", "value": None}, {"color": "red", "value": 85}],
                        ),
                        8,
                    ),
                    (
                        timeseries(
                            "GPU power",
                            "Power draw of each GPU (DCGM_FI_DEV_POWER_USAGE).",
                            "watt",
                            [_gpu("DCGM_FI_DEV_POWER_USAGE")],
                        ),
                        8,
                    ),
                    (
                        timeseries(
                            "GPUs lost",
                            "GPUs that stopped answering NVML, per environment.",
                            "none",
                            [(f"sum by (environment) (envparity_gpu_lost{{{SIDES}}})", "{{environment}}")],
                            COUNT_STEPS,
                        ),
                        8,
                    ),
                ],
            ]
        ),
    )


BUILDERS = {"executive": executive, "oncall": oncall, "debug": debug, "gpu": gpu}


def as_json(dashboard: Dashboard) -> dict[str, Any]:
    return json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))


def write(out: Path) -> list[Path]:
    """Write every dashboard as ``envparity-NAME.json`` into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in BUILDERS.items():
        path = out / f"envparity-{name}.json"
        path.write_text(json.dumps(as_json(build()), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
