"""What an evaluation produces (checks with their measured value and threshold), and the policy that judges it.

Every check belongs to one layer or fingerprint dimension, has a subject (a
feature, a package, a config key, a GPU), a status and a one-line detail.
Thresholds have the defaults of field practice. One YAML file sets the policy,
read by every path that judges (``collector serve``, ``check``, ``compare``:
``--thresholds`` or ``ENVPARITY_THRESHOLDS``): thresholds, the fingerprint
differences that are expected (``rules:``, as ``fingerprint diff --rules``
reads them), evaluated pairs and lineage per service, and the paging
environments. The schema is strict: an unknown or misspelt key is an error
naming where it is::

    paging_environments: [production, live]
    defaults:
      psi_fail: 0.3
      rules:
        - {dimension: config, key: "env:API_URL", severity: ignore}
    services:
      fraud:
        latency_ratio_max: 1.5
        pairs: [{baseline: staging, target: production}]
        rules:
          - {dimension: config, key: "env:FRAUD_*_ENDPOINT", severity: ignore}
        lineage: {amount_z: [artifact:normalisation]}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envparity.collector.parity.diff_rules import DiffRule, RulesError, validation_message, with_defaults
from envparity.collector.parity.pairs import (
    PAGING_ENVIRONMENTS,
    PAGING_ENVIRONMENTS_VARIABLE,
    Pair,
    default_pairs,
    parse_environments,
)

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
# How a score reads, in the report's history chart and the dashboards' score panels: amber below the first, red
# below the second. (The verdict comes from the checks, not from these.)
SCORE_WARN_BELOW, SCORE_FAIL_BELOW = 95.0, 80.0


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
    # a latency ratio fails only when the quantile also grew by more than this (a practical floor)
    latency_min_increase_s: float = 0.005
    error_rate_max_increase: float = 0.01
    gpu_utilization_max: float = 90.0
    gpu_memory_headroom_min: float = 0.05
    shadow_agreement_min: float = 0.98
    feature_tolerance: float = 1e-5
    feature_mismatch_max: float = 0.0
    golden_tolerance: float = 1e-4  # golden probes: the largest difference of an output between environments
    outcome_max_drop: float = 0.05
    psi_binning: Literal["quantile", "evidently"] = "quantile"


class Policy(Thresholds):
    """The ``defaults`` of a thresholds file: thresholds and the expected fingerprint differences."""

    # fingerprint severity rules, before the built-in ones (``diff_rules``); a service's come before these
    rules: list[DiffRule] = Field(default_factory=list)
    # golden probe output (a JSON pointer, a feature) -> its tolerance, instead of ``golden_tolerance``
    golden_tolerances: dict[str, float] = Field(default_factory=dict)


class ServiceConfig(Policy):
    """One service's entry: its thresholds and rules over the defaults, its pairs and lineage."""

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


_M = TypeVar("_M", bound=BaseModel)


class ThresholdsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paging_environments: list[str] | None = None
    defaults: dict[str, object] = Field(default_factory=dict)
    services: dict[str, dict[str, object]] = Field(default_factory=dict)


def _validated(model: type[_M], data: object, where: str) -> _M:
    """``model`` from ``data``; a validation error names where each wrong key is (``where``: its place in the file)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RulesError(validation_message(exc, where)) from None


class ParityConfig:
    """The policy of every service (thresholds, rules, pairs, lineage) and the paging environments."""

    def __init__(self, parsed: ThresholdsFile | None = None, paging_environments: tuple[str, ...] | None = None):
        self._file = parsed or ThresholdsFile()
        defaults = self._file.defaults
        self.defaults = _validated(Policy, defaults, "defaults")
        # a service's rules do not replace the defaults' (``rules``): they come before them
        self._services = {
            name: _validated(ServiceConfig, {**defaults, "rules": [], **values}, f"services.{name}")
            for name, values in self._file.services.items()
        }
        if paging_environments is None and self._file.paging_environments is not None:
            paging_environments = tuple(self._file.paging_environments)
        self.paging_environments = PAGING_ENVIRONMENTS if paging_environments is None else paging_environments

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str] = os.environ) -> ParityConfig:
        """The file's policy (no file: the defaults); ``ENVPARITY_PAGING_ENVIRONMENTS``, when set, overrides
        the file's paging environments (an empty value: none)."""
        variable = environ.get(PAGING_ENVIRONMENTS_VARIABLE)
        paging = None if variable is None else parse_environments(variable)
        if path is None:
            return cls(paging_environments=paging)
        import yaml  # only a thresholds file needs YAML; the check command starts without it

        try:
            parsed = _validated(ThresholdsFile, yaml.safe_load(path.read_text()) or {}, "")
            return cls(parsed, paging)
        except (OSError, yaml.YAMLError, RulesError) as exc:
            raise ValueError(f"thresholds file {path}: {exc}") from None

    @property
    def services(self) -> tuple[str, ...]:
        """The services the file configures."""
        return tuple(self._services)

    def thresholds(self, service: str) -> Thresholds:
        return self._services.get(service, self.defaults)

    def rules(self, service: str) -> tuple[DiffRule, ...]:
        """The fingerprint rules of a service: its own, then the defaults', then the built-in ones."""
        configured = self._services.get(service)
        return with_defaults(configured.rules if configured else [], self.defaults.rules)

    def golden_tolerances(self, service: str) -> dict[str, float]:
        """The tolerance of each golden output set for the service, over those the defaults set."""
        configured = self._services.get(service)
        return {**self.defaults.golden_tolerances, **(configured.golden_tolerances if configured else {})}

    def lineage(self, service: str) -> dict[str, list[str]]:
        """What each subject of the service depends on, as declared (none by default)."""
        configured = self._services.get(service)
        return configured.lineage if configured else {}

    def pairs(self, service: str, environments: list[str]) -> list[Pair]:
        """Configured pairs, else the default ones (``pairs.default_pairs``)."""
        configured = self._services.get(service)
        if configured and configured.pairs:
            return configured.pairs
        return default_pairs(environments, self.paging_environments)


def overall_status(checks: list[Check]) -> Literal["ok", "warn", "fail"]:
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
