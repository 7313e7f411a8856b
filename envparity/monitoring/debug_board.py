"""The Debug dashboard: per-feature drift, fingerprint differences, prediction drift and shadow agreement of a pair."""

from __future__ import annotations

from grafanalib.core import Dashboard

from envparity.collector.parity.model import Thresholds
from envparity.monitoring.board import dashboard
from envparity.monitoring.panels import (
    PAIR,
    Row,
    Steps,
    fails_above,
    fails_below,
    layout,
    table,
    threshold_line,
    timeseries,
)
from envparity.monitoring.promql import FAIL, FINGERPRINT_LAYERS, WARN, check, checks, layer, one_of, select

_FEATURE_TABLE = ("psi", "ks", "null_rate")
_PREDICTION_DRIFT = ("psi", "ks", "wasserstein", "mean_shift")
_DATA_DRIFT = ("EnvParityDataDriftWarning", "EnvParityDataDriftCritical")
_FINGERPRINT_DRIFT = (
    "EnvParityPackageDrift",
    "EnvParityConfigDrift",
    "EnvParityArtifactDrift",
    "EnvParityComputeDrift",
)


def _value(matchers: str) -> str:
    return select("envparity_check_value", f"{PAIR}, {matchers}")


def _features() -> Row:
    warn, fail = Thresholds().psi_warn, threshold_line("psi")  # the default thresholds of the PSI check
    steps: Steps = [
        {"color": "green", "value": None},
        {"color": "orange", "value": warn},
        {"color": "red", "value": fail},
    ]
    return [
        (
            table(
                "Per-feature drift",
                "PSI, KS statistic and null rate of every numeric feature in the target, side by side.",
                "none",
                [(_value(check(name, "data")), name) for name in _FEATURE_TABLE],
                alerts=_DATA_DRIFT,
            ),
            12,
        ),
        (
            timeseries(
                "PSI per feature",
                f"Population stability index of each feature over time (default thresholds: warn {warn}, fail {fail}).",
                "none",
                [(_value(check("psi", "data")), "{{subject}}")],
                steps,
                alerts=_DATA_DRIFT,
            ),
            12,
        ),
    ]


def _fingerprints_and_predictions() -> Row:
    differing = select("envparity_check_status", f'{PAIR}, layer=~"{one_of(FINGERPRINT_LAYERS)}"')
    return [
        (
            table(
                "Fingerprint differences",
                f"Packages, config keys, artifacts and compute that differ ({WARN} warn, {FAIL} fail).",
                "none",
                [(f"{differing} >= {WARN}", "status")],
                alerts=_FINGERPRINT_DRIFT,
            ),
            12,
        ),
        (
            timeseries(
                "Prediction and confidence drift",
                "Drift statistics of the prediction and confidence distributions; the report draws them.",
                "none",
                [(_value(f"{layer('prediction')}, {checks(_PREDICTION_DRIFT)}"), "{{subject}} {{check}}")],
                alerts=["EnvParityPredictionDrift"],
            ),
            12,
        ),
    ]


def _shadow() -> Row:
    return [
        (
            timeseries(
                "Shadow agreement",
                "Share of mirrored requests (same request id) on which target and baseline agree.",
                "percentunit",
                [(_value(check("shadow_agreement")), "agreement")],
                fails_below("shadow_agreement"),
                alerts=["EnvParityShadowAgreementLow"],
            ),
            12,
        ),
        (
            timeseries(
                "Feature-vector mismatches",
                "Share of mirrored requests whose feature differs beyond the tolerance, per feature.",
                "percentunit",
                [(_value(check("feature_equality")), "{{subject}}")],
                fails_above("feature_equality"),
            ),
            12,
        ),
    ]


def debug() -> Dashboard:
    return dashboard(
        "envparity-debug",
        "envparity / Debug",
        "Per-feature drift, fingerprint differences, prediction drift and shadow agreement of one pair.",
        layout([_features(), _fingerprints_and_predictions(), _shadow()]),
    )
