"""The On-call dashboard: what fails now and since when, both sides of the pair, and the health of the collector."""

from __future__ import annotations

from grafanalib.core import Dashboard

from envparity.collector.parity.check_specs import check_spec, default_threshold
from envparity.monitoring.board import dashboard
from envparity.monitoring.panels import (
    PAIR,
    SCOPE,
    SERVICE,
    SIDES,
    Row,
    above,
    below,
    fails_above,
    layout,
    table,
    timeseries,
)
from envparity.monitoring.promql import (
    FAIL,
    FAILING,
    checks,
    collector_up,
    judged_like,
    of_job,
    select,
    value_while,
)
from envparity.monitoring.rules import RuleSettings

_LATENCY = "latency_p99_ratio"  # its threshold judges every latency ratio
_RULES = RuleSettings()
_ALERT_SINCE = f"max by (alertname, severity, target, subject) (ALERTS_FOR_STATE{{{SERVICE}}})"


def _now() -> Row:
    return [
        (
            table(
                "Failing checks now",
                f"Every check of the pair whose latest status is fail ({FAIL}), with its measured value.",
                "none",
                [
                    (f"{select('envparity_check_status', PAIR)} {FAILING}", "status"),
                    (value_while(PAIR, FAILING), "value"),
                ],
            ),
            12,
        ),
        (
            table(
                "Firing since",
                "Alerts of the service, pending or firing, and how long ago each became active.",
                "dateTimeFromNow",
                [(f"{_ALERT_SINCE} * 1000", "")],  # Prometheus keeps Unix seconds, Grafana's date units read ms
            ),
            12,
        ),
    ]


def _quantile(q: float) -> tuple[str, str]:
    rate = f"rate({select('envparity_request_duration_seconds_bucket', SIDES)}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by (environment, le) ({rate}))", f"{{{{environment}}}} p{round(q * 100)}"


def _traffic() -> Row:
    requests = f"sum by (environment) (rate({select('envparity_requests_total', SIDES)}[$__rate_interval]))"
    errors = f"sum by (environment) (rate({select('envparity_request_errors_total', SIDES)}[$__rate_interval]))"
    return [
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
                alerts=["EnvParityErrorRateParity"],
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
    ]


def _ratios_and_freshness() -> Row:
    silent_s = _RULES.agent_silent_s
    freshness = f"time() - {select('envparity_environment_last_snapshot_timestamp_seconds', SERVICE)}"
    return [
        (
            timeseries(
                "Latency ratio target / baseline",
                "Ratio of the target's latency quantiles to the baseline's; each check fails above "
                f"`{check_spec(_LATENCY).threshold}` (line at its default, {default_threshold(_LATENCY)}).",
                "none",
                [(select("envparity_check_value", f"{PAIR}, {checks(judged_like(_LATENCY))}"), "{{check}}")],
                fails_above(_LATENCY),
                alerts=["EnvParityLatencyP99Ratio"],
            ),
            12,
        ),
        (
            timeseries(
                "Agent freshness",
                "Seconds since the newest snapshot of every environment of the service arrived "
                f"(EnvParityAgentAbsent fires above {silent_s} s).",
                "s",
                [(freshness, "{{environment}}")],
                above(silent_s),
                alerts=["EnvParityAgentAbsent"],
            ),
            12,
        ),
    ]


def _collector() -> Row:
    stalled_s = _RULES.evaluation_stalled_s
    finished = select("envparity_evaluation_last_success_timestamp_seconds", SCOPE)
    up = collector_up(_RULES.collector_job, SCOPE)
    return [
        (
            timeseries(
                "Evaluation freshness",
                "Seconds since the collector last finished a parity evaluation "
                f"(EnvParityEvaluationStalled fires above {stalled_s} s).",
                "s",
                [(f"time() - {finished}", "{{instance}}")],
                above(stalled_s),
                alerts=["EnvParityEvaluationStalled"],
            ),
            8,
        ),
        (
            timeseries(
                "Collector scrape",
                f"1 while Prometheus reaches the collector (job {_RULES.collector_job}), 0 when a scrape fails.",
                "none",
                [(up, "{{instance}}")],
                below(1),
                alerts=["EnvParityCollectorDown"],
            ),
            8,
        ),
        (
            timeseries(
                "Collector memory",
                "The collector's resident memory, and of it what DuckDB's buffer manager holds, under its limit "
                "(--duckdb-memory-limit; DuckDB only). Resident memory rising while DuckDB's buffers stay flat is "
                "the process itself.",
                "bytes",
                [
                    (of_job("process_resident_memory_bytes", _RULES.collector_job, SCOPE), "resident {{instance}}"),
                    (select("envparity_store_memory_bytes", SCOPE), "DuckDB buffers {{instance}}"),
                    (select("envparity_store_memory_limit_bytes", SCOPE), "DuckDB limit {{instance}}"),
                ],
            ),
            8,
        ),
    ]


def oncall() -> Dashboard:
    return dashboard(
        "envparity-oncall",
        "envparity / On-call",
        "What fails now and since when; baseline and target side by side; the collector's health.",
        layout([_now(), _traffic(), _ratios_and_freshness(), _collector()]),
    )
