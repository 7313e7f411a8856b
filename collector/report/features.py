"""What the report says per feature and per layer: the rows of the feature table and the summary read first.

A feature row is every data-layer subject (the ``samples`` row aside) and every
prediction-layer subject whose distribution is compared (the model's prediction
and confidence), with all its data and prediction checks, the worst status of
them, the check that decided it and its drawn distribution. A feature *drifted*
when one of its data-layer checks warns or fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envparity.collector.parity.check_specs import CHECKS
from envparity.collector.parity.model import LAYERS, STATUS_ORDER, Check
from envparity.collector.parity.record import EvaluationRecord

DISTRIBUTION_CHECKS = frozenset(s.name for s in CHECKS if {"data", "prediction"} <= set(s.layers))
_SPEC_ORDER = {s.name: i for i, s in enumerate(CHECKS)}
_NEEDS_ATTENTION = ("fail", "warn")


def _ranked(checks: list[Check]) -> list[Check]:
    """Worst first; among equals in the order of the check specs (PSI before KS)."""
    return sorted(checks, key=lambda c: (STATUS_ORDER[c.status], _SPEC_ORDER.get(c.check, len(_SPEC_ORDER))))


@dataclass(frozen=True)
class FeatureRow:
    """One feature (or model output) with its checks, worst first, and its binned shares when drawn."""

    subject: str
    layer: str  # "data" for a feature, "prediction" for the model's prediction and confidence
    checks: list[Check]
    distribution: dict[str, Any] | None

    @property
    def status(self) -> str:
        return self.checks[0].status

    @property
    def deciding(self) -> Check:
        return self.checks[0]

    @property
    def drifted(self) -> bool:
        return any(c.layer == "data" and c.status in _NEEDS_ATTENTION for c in self.checks)

    def tally(self) -> str:
        """How many of its checks end in each status, worst first: ``2 fail, 3 ok``."""
        statuses = [c.status for c in self.checks]
        return ", ".join(f"{statuses.count(s)} {s}" for s in STATUS_ORDER if s in statuses)


def _subjects(checks: list[Check]) -> dict[str, str]:
    """Feature -> the layer it is listed under: data-layer subjects, then compared model outputs."""
    subjects = {c.subject: "data" for c in checks if c.layer == "data" and c.check != "samples"}
    for c in checks:
        if c.layer == "prediction" and c.check in DISTRIBUTION_CHECKS:
            subjects.setdefault(c.subject, "prediction")
    return subjects


def feature_rows(ev: EvaluationRecord) -> list[FeatureRow]:
    """Every feature and compared model output, the worst first, features before outputs, then by name."""
    subjects = _subjects(ev.checks)
    own: dict[str, list[Check]] = {s: [] for s in subjects}
    for c in ev.checks:
        if c.layer in ("data", "prediction") and c.subject in own:
            own[c.subject].append(c)
    rows = [FeatureRow(s, layer, _ranked(own[s]), ev.distributions.get(s)) for s, layer in subjects.items()]
    return sorted(rows, key=lambda r: (STATUS_ORDER[r.status], r.layer != "data", r.subject))


@dataclass(frozen=True)
class LayerFinding:
    """A layer whose checks need attention: its worst status, score, and the subjects that warn or fail."""

    layer: str
    status: str
    score: float | None
    subjects: list[str]


def layer_findings(ev: EvaluationRecord) -> list[LayerFinding]:
    """Per layer, in layer order, the subjects of its failing and warning checks (each once, worst first)."""
    out = []
    for layer in LAYERS:
        flagged = _ranked([c for c in ev.checks if c.layer == layer and c.status in _NEEDS_ATTENTION])
        if flagged:
            subjects = list(dict.fromkeys(c.subject for c in flagged))
            out.append(LayerFinding(layer, flagged[0].status, ev.layer_scores.get(layer), subjects))
    return out
