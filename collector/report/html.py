"""The HTML parity report: one evaluation as a self-contained page (no scripts, no external assets).

Served by the collector at ``/report`` and written by ``envparity check --format
html``. The probable causes come first, then failing and warning checks, the
drawn distributions of the drifting subjects (inline SVG, baseline and target
side by side), the fingerprint differences, every check by layer, and the
evaluation history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from envparity.collector.parity.model import LAYERS, STATUS_ORDER
from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary
from envparity.collector.report.causes import HEADING, cause_rows, unexplained_line

BASELINE_COLOUR, TARGET_COLOUR = "#4c78a8", "#f58518"
_templates = Environment(
    loader=PackageLoader("envparity.collector.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def number(value: Any) -> str:
    """A value as a person reads it: 4 significant digits for floats, text as it is."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    return "" if value is None else str(value)


def when(value: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None:
        return "now"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def distribution_svg(subject: str, dist: dict[str, Any], width: int = 460, height: int = 170) -> Markup:
    """Grouped bars of baseline and target shares per bin or category."""
    labels = dist.get("labels") or [number(e) for e in dist["edges"][:-1]]
    pairs = list(zip(dist["baseline"], dist["target"], strict=True))
    top = max(max(p) for p in pairs) or 1.0
    plot_h, left, bottom = height - 40, 36, height - 22
    slot = (width - left - 6) / len(pairs)
    bar = max(slot / 2 - 1, 1)
    parts = [
        f'<svg class="dist" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="distribution of {escape(subject)}">',
        f'<line x1="{left}" y1="{bottom}" x2="{width - 4}" y2="{bottom}" stroke="#999"/>',
        f'<text x="2" y="14" font-size="10">{top:.0%}</text>',
    ]
    for i, (b, t) in enumerate(pairs):
        x = left + i * slot
        for j, (share, colour) in enumerate(((b, BASELINE_COLOUR), (t, TARGET_COLOUR))):
            h = plot_h * share / top
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(labels[i])}: {"baseline" if j == 0 else "target"} '
                f"{share:.1%}</title></rect>"
            )
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        parts.append(
            f'<text x="{left + i * slot:.1f}" y="{height - 6}" font-size="10">{escape(str(labels[i])[:10])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def history_svg(history: Sequence[EvaluationSummary], width: int = 460, height: int = 90) -> Markup:
    """The score of past evaluations, oldest left."""
    scores = [h.score for h in reversed(history) if h.score is not None]
    if len(scores) < 2:
        return Markup("")
    step = (width - 10) / (len(scores) - 1)
    coords = " ".join(f"{5 + i * step:.1f},{height - 5 - (height - 10) * s / 100:.1f}" for i, s in enumerate(scores))
    return Markup(
        f'<svg class="history" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="score history"><rect width="{width}" height="{height}" fill="#fafafa"/>'
        f'<polyline fill="none" stroke="{BASELINE_COLOUR}" stroke-width="2" points="{coords}"/></svg>'
    )


def render_report(
    ev: EvaluationRecord,
    history: Sequence[EvaluationSummary] = (),
    choices: dict[str, list[str]] | None = None,
) -> str:
    """The page of one evaluation, newest ``history`` first; ``choices`` (service -> environments) adds a picker."""
    checks = sorted(ev.checks, key=lambda c: (STATUS_ORDER[c.status], LAYERS.index(c.layer)))
    by_layer = {layer: [c for c in checks if c.layer == layer] for layer in LAYERS}
    causes = ev.probable_causes
    return _templates.get_template("report.html").render(
        ev=ev,
        causes=cause_rows(causes) if causes else None,
        causes_heading=HEADING,
        unexplained=unexplained_line(causes) if causes else "",
        attention=[c for c in checks if c.status in ("fail", "warn")],
        by_layer={layer: rows for layer, rows in by_layer.items() if rows},
        fingerprint=[c for c in checks if c.layer.startswith("fingerprint.")],
        drawn={s: distribution_svg(s, d) for s, d in ev.distributions.items()},
        history=history,
        history_chart=history_svg(history),
        choices=choices,
        number=number,
        when=when,
        colours=(BASELINE_COLOUR, TARGET_COLOUR),
    )
