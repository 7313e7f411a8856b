"""What an evaluation produces: checks with their measured value and threshold, and thresholds.

Every check belongs to one layer or fingerprint dimension, has a subject (a
feature, a package, a config key, a GPU), a status and a one-line detail.
Thresholds have the defaults of field practice and can be set per service in a
YAML file given to the collector (``--thresholds``)::

    defaults:
      psi_fail: 0.3
    services:
      fraud:
        latency_ratio_max: 1.5
        pairs: [{baseline: production, target: staging}]
        lineage: {amount_z: [artifact:normalisation]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Status = Literal["ok", "warn", "fail", "insufficient_data"]
Layer = Literal[
    "infrastructure",
    "data",
    "prediction",
    "outcome",
    "fingerprint.code",
    "fingerprint.config",
    "fingerprint.artifacts",
    "fingerprint.compute",
]
LAYERS: tuple[str, ...] = get_args(Layer)
STATUS_ORDER = {"fail": 0, "warn": 1, "insufficient_data": 2, "ok": 3}


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    layer: Layer
    check: str
    subject: str
    value: float | str | None = None
    threshold: float | str | None = None
    status: Status
    detail: str


class Thresholds(BaseModel):
    """Decision thresholds; every one can be overridden per service."""

    model_config = ConfigDict(extra="forbid")

    psi_warn: float = 0.1
    psi_fail: float = 0.25
    wasserstein_warn: float = 0.05
    wasserstein_fail: float = 0.1
    # False discovery rate (Benjamini-Hochberg over all distributions compared in one
    # evaluation) below which a practical drift also counts as statistically real.
    fail_fdr: float = 0.005
    warn_fdr: float = 0.05
    min_samples: int = 30
    null_rate_max_increase: float = 0.05
    range_violation_max: float = 0.05
    latency_ratio_max: float = 1.2
    # a latency ratio fails only when the quantile also grew by more than this (histogram resolution)
    latency_min_increase_s: float = 0.001
    error_rate_max_increase: float = 0.01
    gpu_utilization_max: float = 90.0
    gpu_memory_headroom_min: float = 0.05
    shadow_agreement_min: float = 0.98
    feature_tolerance: float = 1e-5
    feature_mismatch_max: float = 0.0
    outcome_max_drop: float = 0.05
    psi_binning: Literal["quantile", "evidently"] = "quantile"


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline: str
    target: str


class ServiceConfig(Thresholds):
    pairs: list[Pair] = Field(default_factory=list)
    # subject (a feature, ``prediction``) -> the fingerprint keys it depends on, for the probable causes
    lineage: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("lineage")
    @classmethod
    def _named(cls, lineage: dict[str, list[str]]) -> dict[str, list[str]]:
        """Every subject and cause key named: an empty one would link nothing or, as a prefix, everything."""
        blank = [s for s, keys in lineage.items() if not s.strip() or any(not k.strip() for k in keys)]
        if blank:
            raise ValueError(f"lineage of {', '.join(map(repr, blank))}: subjects and keys must not be empty")
        return lineage


class ThresholdsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, object] = Field(default_factory=dict)
    services: dict[str, dict[str, object]] = Field(default_factory=dict)


class ParityConfig:
    """Thresholds and evaluated pairs per service, from an optional YAML file."""

    def __init__(self, parsed: ThresholdsFile | None = None) -> None:
        self._file = parsed or ThresholdsFile()
        self.defaults = Thresholds.model_validate(self._file.defaults)
        self._services = {
            name: ServiceConfig.model_validate({**self._file.defaults, **values})
            for name, values in self._file.services.items()
        }

    @classmethod
    def load(cls, path: Path | None) -> ParityConfig:
        if path is None:
            return cls()
        import yaml  # only the collector reads a thresholds file; the check command starts without it

        try:
            return cls(ThresholdsFile.model_validate(yaml.safe_load(path.read_text()) or {}))
        except (OSError, yaml.YAMLError, ValidationError, TypeError) as exc:
            raise ValueError(f"thresholds file {path}: {exc}") from None

    def thresholds(self, service: str) -> Thresholds:
        return self._services.get(service, self.defaults)

    def lineage(self, service: str) -> dict[str, list[str]]:
        """What each subject of the service depends on, as declared (none by default)."""
        configured = self._services.get(service)
        return configured.lineage if configured else {}

    def pairs(self, service: str, environments: list[str]) -> list[Pair]:
        """Configured pairs, else every environment against ``production`` (or the first one)."""
        configured = self._services.get(service)
        if configured and configured.pairs:
            return configured.pairs
        if len(environments) < 2:
            return []
        baseline = "production" if "production" in environments else sorted(environments)[0]
        return [Pair(baseline=baseline, target=e) for e in sorted(environments) if e != baseline]


def overall_status(checks: list[Check]) -> Literal["ok", "warn", "fail"]:
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
