"""An evaluation as data that travels: stored, served by the API, rendered, and exported to Prometheus.

``EvaluationRecord`` has the fields of an engine evaluation, its probable causes
before its checks; ``EvaluationSummary`` is the part the evaluation history lists
(``GET /v1/parity/history``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from envparity.collector.parity.causes import CauseAnalysis
from envparity.collector.parity.model import Check


class EvaluationSummary(BaseModel):
    """The verdict of one evaluation and when it was made, without its checks."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok", "warn", "fail"]
    score: float | None
    layer_scores: dict[str, float]
    window_start: datetime | None = None
    window_end: datetime | None = None
    evaluated_at: datetime | None = None


class EvaluationRecord(EvaluationSummary):
    """Every check of one evaluation of a pair, with its score and what the report draws."""

    service: str
    baseline: str
    target: str
    probable_causes: CauseAnalysis | None = None  # None: not ranked (a file comparison, a record stored before)
    checks: list[Check]
    duration_s: float = 0.0
    counts: dict[str, int] = {}
    fingerprint_parity: dict[str, float] = {}  # dimension -> share of equal entries
    distributions: dict[str, dict[str, Any]] = {}  # subject (drifting first) -> binned shares

    @classmethod
    def of(cls, evaluation: object) -> EvaluationRecord:
        """The record of an engine evaluation (read by attribute name)."""
        return cls.model_validate(evaluation, from_attributes=True)

    def summary(self) -> EvaluationSummary:
        return EvaluationSummary(**{name: getattr(self, name) for name in EvaluationSummary.model_fields})
