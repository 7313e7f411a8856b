"""The probable causes of an evaluation as rows every rendering shares: terminal, Markdown and HTML.

Each row is one ranked cause: its rank, key, dimension, score, what differs, the
symptoms it explains and the kinds of evidence for the links (``declared``
lineage, ``time`` alignment, ``structure``, ``downstream`` through a symptom
further up). The JSON of the evaluation holds every link with its weight.
"""

from __future__ import annotations

from typing import Any

from envparity.collector.parity.causes import CauseAnalysis, ProbableCause

HEADING = "Probable causes, most likely first"


def _evidence(cause: ProbableCause) -> str:
    """The distinct kinds of evidence behind a cause's links; a time alignment spelt out."""
    kinds = (item if item.startswith("time:") else item.split(":", 1)[0] for k in cause.explains for item in k.evidence)
    return ", ".join(dict.fromkeys(kinds))


def cause_rows(analysis: CauseAnalysis) -> list[dict[str, Any]]:
    """One row per ranked cause, most likely first."""
    return [
        {
            "rank": rank,
            "cause": cause.key,
            "dimension": cause.dimension,
            "score": cause.score,
            "difference": cause.detail,
            "explains": ", ".join(cause.symptoms),
            "evidence": _evidence(cause),
        }
        for rank, cause in enumerate(analysis.causes, 1)
    ]


def unexplained_line(analysis: CauseAnalysis) -> str:
    """The failing symptoms no difference explains, or that none are left."""
    if analysis.unexplained:
        return "Unexplained: " + ", ".join(analysis.unexplained) + "."
    return "Every failing symptom is explained." if analysis.symptoms else "No failing symptom to explain."
