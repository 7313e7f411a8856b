"""Layer 4, outcome: accuracy, precision, recall and F1 of the target against the baseline, once outcomes arrive."""

from __future__ import annotations

from envparity.collector.parity.checks.builder import insufficient, make_check
from envparity.collector.parity.dataset import EnvironmentData
from envparity.collector.parity.measures import classification_metrics
from envparity.collector.parity.model import Check, Thresholds


def outcome_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    """Each metric fails when it dropped by more than ``outcome_max_drop``; nothing when a side has no outcomes."""
    if base.outcomes is None or target.outcomes is None:
        return []
    nb, nt = len(base.outcomes.actual), len(target.outcomes.actual)
    if min(nb, nt) < t.min_samples:
        return [insufficient(t, "outcome", "f1", nb, nt)]
    mb, mt = classification_metrics(base.outcomes), classification_metrics(target.outcomes)
    return [
        make_check(
            t,
            layer="outcome",
            check=name,
            subject="model",
            value=mt[name],
            status="fail" if mb[name] - mt[name] > t.outcome_max_drop else "ok",
            detail=f"{name} {mt[name]:.3f} in target vs {mb[name]:.3f} in baseline ({nt}/{nb} outcomes)",
        )
        for name in ("accuracy", "precision", "recall", "f1")
    ]
