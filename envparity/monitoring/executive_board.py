"""The Executive dashboard: does the target behave like its baseline? Score, trend and the field's parity metrics."""

from __future__ import annotations

from grafanalib.core import Dashboard

from envparity.monitoring.board import dashboard
from envparity.monitoring.panels import (
    COUNT_STEPS,
    PAIR,
    SCORE_STEPS,
    SERVICE,
    Row,
    layout,
    stat,
    timeseries,
)
from envparity.monitoring.promql import FAILING, check, layer, select


def _scores() -> Row:
    return [
        (
            stat(
                "Parity score",
                "Score 0-100 of the latest evaluation of the pair (mean of the layer scores).",
                "percent",
                select("envparity_parity_score", PAIR),
                SCORE_STEPS,
            ),
            6,
        ),
        (
            timeseries(
                "Parity score of every pair of the service",
                "Trend of the score of each baseline and target pair evaluated for the service.",
                "percent",
                [(select("envparity_parity_score", SERVICE), "{{baseline}} -> {{target}}")],
                SCORE_STEPS,
            ),
            18,
        ),
    ]


def _layers() -> Row:
    return [
        (
            timeseries(
                "Failing checks per layer",
                "Checks of the pair whose status is fail, per layer and fingerprint dimension.",
                "none",
                [(f"sum by (layer) ({select('envparity_failing_checks', PAIR)})", "{{layer}}")],
                COUNT_STEPS,
            ),
            12,
        ),
        (
            timeseries(
                "Layer scores",
                "Sub-score 0-100 of every layer and fingerprint dimension of the pair; the outcome layer's "
                "falls when F1, precision or recall drop once labels arrive.",
                "percent",
                [(select("envparity_parity_layer_score", PAIR), "{{layer}}")],
                SCORE_STEPS,
                alerts=["EnvParityOutcomeDrop"],
            ),
            12,
        ),
    ]


def _parity() -> Row:
    schema = select("envparity_check_status", f"{PAIR}, {check('schema')}")
    data = select("envparity_check_status", f"{PAIR}, {layer('data')}")
    agents = select("envparity_environment_agents", SERVICE)
    changes = select("envparity_fingerprint_changes_total", SERVICE)
    return [
        (
            stat(
                "Config drift rate",
                "New fingerprints (package, config or artifact changes) reported by the service's "
                "environments, per hour.",
                "none",
                f"sum(rate({changes}[$__rate_interval])) * 3600",
            ),
            6,
        ),
        (
            stat(
                "Schema parity",
                "Share of the compared features whose name and type match between target and baseline.",
                "percentunit",
                f"1 - (count({schema} {FAILING}) or vector(0)) / count(count by (subject) ({data}))",
                alerts=["EnvParitySchemaMismatch"],
            ),
            6,
        ),
        (
            stat(
                "Artifact parity",
                "Share of the model artifacts and aliases identical in target and baseline.",
                "percentunit",
                select("envparity_fingerprint_parity_ratio", f'{PAIR}, dimension="artifacts"'),
                alerts=["EnvParityArtifactDrift"],
            ),
            6,
        ),
        (
            stat(
                "Telemetry coverage",
                "Share of the service's environments with an agent that reported in the last 5 minutes.",
                "percentunit",
                f"(count({agents} > 0) or vector(0)) / count({agents})",
                alerts=["EnvParityAgentAbsent"],
            ),
            6,
        ),
    ]


def executive() -> Dashboard:
    return dashboard(
        "envparity-executive",
        "envparity / Executive",
        "Does the target behave like its baseline? Parity score, its trend, and the field's parity metrics.",
        layout([_scores(), _layers(), _parity()]),
    )
