"""Parity evaluation, the pure core: statistics, checks per layer, score and fingerprint diff over plain data.

No SQL and no database here: the store reads environments and fingerprints and
hands them in as the plain data of ``dataset``; ``evaluate`` answers with an
``Evaluation``. The public names are imported from their modules on first use, so
that importing a light module (``windows``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envparity.collector._lazy import lazy_attributes

if TYPE_CHECKING:
    from envparity.collector.parity.check_specs import CHECKS, CheckSpec, check_spec, default_threshold
    from envparity.collector.parity.dataset import (
        EnvironmentData,
        FeatureColumn,
        GpuUsage,
        Outcomes,
        ShadowPairs,
        prediction_class,
    )
    from envparity.collector.parity.diff_rules import DiffRule, RulesError, load_rules
    from envparity.collector.parity.engine import evaluate, layer_scores
    from envparity.collector.parity.evaluation import Evaluation
    from envparity.collector.parity.fingerprint_diff import DiffItem, diff_fingerprints, diff_status, dimension_parity
    from envparity.collector.parity.model import (
        LAYERS,
        Check,
        Layer,
        ParityConfig,
        Status,
        Thresholds,
        overall_status,
    )
    from envparity.collector.parity.windows import parse_duration, split_environment

_MODULES = {
    "check_specs": ("CHECKS", "CheckSpec", "check_spec", "default_threshold"),
    "dataset": ("EnvironmentData", "FeatureColumn", "GpuUsage", "Outcomes", "ShadowPairs", "prediction_class"),
    "engine": ("evaluate", "layer_scores"),
    "evaluation": ("Evaluation",),
    "diff_rules": ("DiffRule", "RulesError", "load_rules"),
    "fingerprint_diff": ("DiffItem", "diff_fingerprints", "diff_status", "dimension_parity"),
    "model": ("LAYERS", "Check", "Layer", "ParityConfig", "Status", "Thresholds", "overall_status"),
    "windows": ("parse_duration", "split_environment"),
}

__all__ = [
    "CHECKS",
    "LAYERS",
    "Check",
    "CheckSpec",
    "DiffItem",
    "DiffRule",
    "EnvironmentData",
    "Evaluation",
    "FeatureColumn",
    "GpuUsage",
    "Layer",
    "Outcomes",
    "ParityConfig",
    "RulesError",
    "ShadowPairs",
    "Status",
    "Thresholds",
    "check_spec",
    "default_threshold",
    "diff_fingerprints",
    "diff_status",
    "dimension_parity",
    "evaluate",
    "layer_scores",
    "load_rules",
    "overall_status",
    "parse_duration",
    "prediction_class",
    "split_environment",
]

__getattr__ = lazy_attributes(__name__, _MODULES)
