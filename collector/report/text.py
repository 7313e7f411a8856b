"""Text renderings of an evaluation: a terminal table, Markdown for CI job summaries, JSON.

The probable causes come first, after the verdict, then the checks that need attention.
"""

from __future__ import annotations

import textwrap

from envparity.collector.parity.causes import CauseAnalysis
from envparity.collector.parity.record import EvaluationRecord
from envparity.collector.report.causes import HEADING, cause_rows, unexplained_line
from envparity.collector.report.tables import markdown_table, text_table

COLUMNS = ("status", "layer", "check", "subject", "value", "threshold", "detail")
CAUSE_COLUMNS = ("rank", "cause", "dimension", "score", "explains", "evidence")
_WIDTH = 118


def _title(ev: EvaluationRecord) -> str:
    score = "n/a" if ev.score is None else f"{ev.score:.1f}"
    return f"parity {ev.service}: {ev.baseline} -> {ev.target}: {ev.status.upper()} (score {score})"


def _counts(ev: EvaluationRecord) -> str:
    statuses = [c.status for c in ev.checks]
    return ", ".join(f"{statuses.count(s)} {s}" for s in ("fail", "warn", "ok", "insufficient_data"))


def _layers(ev: EvaluationRecord) -> str:
    return "  ".join(f"{layer} {score:.0f}" for layer, score in ev.layer_scores.items())


def _wrapped(text: str, indent: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)


def causes_text(analysis: CauseAnalysis) -> str:
    """The ranked causes for a terminal: each with what differs, the symptoms it explains and the evidence."""
    lines = [f"{HEADING}:"]
    for row in cause_rows(analysis):
        lines.append(_wrapped(f"{row['rank']}. {row['difference']} [{row['dimension']}, score {row['score']:g}]", "  "))
        lines.append(_wrapped(f"explains {row['explains']}", "     "))
        lines.append(_wrapped(f"evidence: {row['evidence']}", "     "))
    lines.append(_wrapped(unexplained_line(analysis), "  "))
    return "\n".join(lines)


def _causes_markdown(analysis: CauseAnalysis) -> str:
    rows = cause_rows(analysis)
    table = markdown_table(rows, CAUSE_COLUMNS) + "\n\n" if rows else ""
    return f"#### {HEADING}\n\n{table}{unexplained_line(analysis)}\n\n"


def render_evaluation(ev: EvaluationRecord, fmt: str, show_ok: bool = False) -> str:
    """An evaluation in ``table``, ``markdown`` or ``json``."""
    if fmt == "json":
        return ev.model_dump_json(indent=2)
    rows = [c.model_dump() for c in ev.checks if show_ok or c.status != "ok"]
    causes = ev.probable_causes
    if fmt == "markdown":
        body = markdown_table(rows, COLUMNS) if rows else "Every check passed."
        first = _causes_markdown(causes) if causes else ""
        return f"### {_title(ev)}\n\n{_counts(ev)}. Layer scores: {_layers(ev)}\n\n{first}{body}\n"
    body = text_table(rows, COLUMNS) if rows else "Every check passed."
    first = f"{causes_text(causes)}\n\n" if causes else ""
    return f"{_title(ev)}\n{_counts(ev)}\nlayer scores: {_layers(ev)}\n\n{first}{body}"
