"""Text renderings of an evaluation: a terminal table, Markdown for CI job summaries, JSON."""

from __future__ import annotations

import json
from typing import Any

from envparity.collector.report.tables import markdown_table, text_table

COLUMNS = ("status", "layer", "check", "subject", "value", "threshold", "detail")


def _title(ev: dict[str, Any]) -> str:
    score = "n/a" if ev.get("score") is None else f"{ev['score']:.1f}"
    return f"parity {ev['service']}: {ev['baseline']} -> {ev['target']}: {ev['status'].upper()} (score {score})"


def _counts(ev: dict[str, Any]) -> str:
    statuses = [c["status"] for c in ev["checks"]]
    return ", ".join(f"{statuses.count(s)} {s}" for s in ("fail", "warn", "ok", "insufficient_data"))


def _layers(ev: dict[str, Any]) -> str:
    return "  ".join(f"{layer} {score:.0f}" for layer, score in ev.get("layer_scores", {}).items())


def render_evaluation(ev: dict[str, Any], fmt: str, show_ok: bool = False) -> str:
    """An evaluation (as ``Evaluation.as_dict()``) in ``table``, ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps({"status": ev["status"], "score": ev["score"], **ev}, indent=2, default=str)
    rows = [c for c in ev["checks"] if show_ok or c["status"] != "ok"]
    if fmt == "markdown":
        body = markdown_table(rows, COLUMNS) if rows else "Every check passed."
        return f"### {_title(ev)}\n\n{_counts(ev)}. Layer scores: {_layers(ev)}\n\n{body}\n"
    body = text_table(rows, COLUMNS) if rows else "Every check passed."
    return f"{_title(ev)}\n{_counts(ev)}\nlayer scores: {_layers(ev)}\n\n{body}"
