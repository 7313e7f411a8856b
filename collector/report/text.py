"""Text renderings of an evaluation: a terminal table, Markdown for CI job summaries, JSON."""

from __future__ import annotations

from envparity.collector.parity.record import EvaluationRecord
from envparity.collector.report.tables import markdown_table, text_table

COLUMNS = ("status", "layer", "check", "subject", "value", "threshold", "detail")


def _title(ev: EvaluationRecord) -> str:
    score = "n/a" if ev.score is None else f"{ev.score:.1f}"
    return f"parity {ev.service}: {ev.baseline} -> {ev.target}: {ev.status.upper()} (score {score})"


def _counts(ev: EvaluationRecord) -> str:
    statuses = [c.status for c in ev.checks]
    return ", ".join(f"{statuses.count(s)} {s}" for s in ("fail", "warn", "ok", "insufficient_data"))


def _layers(ev: EvaluationRecord) -> str:
    return "  ".join(f"{layer} {score:.0f}" for layer, score in ev.layer_scores.items())


def render_evaluation(ev: EvaluationRecord, fmt: str, show_ok: bool = False) -> str:
    """An evaluation in ``table``, ``markdown`` or ``json``."""
    if fmt == "json":
        return ev.model_dump_json(indent=2)
    rows = [c.model_dump() for c in ev.checks if show_ok or c.status != "ok"]
    if fmt == "markdown":
        body = markdown_table(rows, COLUMNS) if rows else "Every check passed."
        return f"### {_title(ev)}\n\n{_counts(ev)}. Layer scores: {_layers(ev)}\n\n{body}\n"
    body = text_table(rows, COLUMNS) if rows else "Every check passed."
    return f"{_title(ev)}\n{_counts(ev)}\nlayer scores: {_layers(ev)}\n\n{body}"
