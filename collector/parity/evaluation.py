"""What one evaluation of a baseline against a target produced: its checks, status and score, as plain data.

The engine builds an ``Evaluation``; the service stamps its window and fingerprint
parity and ranks its probable causes; the store keeps it and the API, the report
and the exporter read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from envparity.collector.parity.causes import CauseAnalysis
from envparity.collector.parity.model import Check


@dataclass
class Evaluation:
    service: str
    baseline: str
    target: str
    status: str
    score: float | None
    layer_scores: dict[str, float]
    checks: list[Check]
    window_start: datetime | None = None
    window_end: datetime | None = None
    evaluated_at: datetime | None = None
    duration_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    fingerprint_parity: dict[str, float] = field(default_factory=dict)  # dimension -> share of equal entries
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject (drifting first) -> binned shares
    probable_causes: CauseAnalysis | None = None  # ranked by the service, which holds the evidence
