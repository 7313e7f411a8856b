"""Plain-text renderings of result rows: an aligned table for terminals, Markdown for CI summaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
_MAX_CELL = 80


def _cell(value: Any, limit: int | None = _MAX_CELL) -> str:
    text = "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    text = text.replace("\n", " ")
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def text_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Columns aligned with spaces, a header line and a rule."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table with pipes escaped."""

    def esc(value: Any) -> str:
        return _cell(value, limit=None).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
