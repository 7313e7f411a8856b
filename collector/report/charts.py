"""The report's drawings as inline SVG (no scripts, no external assets).

``distribution_svg``: baseline and target shares per bin or category, side by
side, with a share axis. ``sparkline_svg``: the same shares in a table cell,
baseline as bars and target as a line. ``history_svg``: the score of past
evaluations against time, with axes, tick labels, each evaluation's verdict as
the colour of its point, and the score bands the Grafana score panels colour
(below ``SCORE_WARN_BELOW`` amber, below ``SCORE_FAIL_BELOW`` red) as dashed lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from envparity.collector.parity.model import SCORE_FAIL_BELOW, SCORE_WARN_BELOW
from envparity.collector.parity.record import EvaluationSummary
from envparity.collector.report.formatting import number

BASELINE_COLOUR, TARGET_COLOUR = "#4c78a8", "#f58518"
STATUS_COLOURS = {"fail": "#c0392b", "warn": "#d68910", "ok": "#1e8449"}
_AXIS, _GRID, _TEXT = "#888", "#e4e4e4", "#555"


def _labels(dist: dict[str, Any]) -> list[str]:
    """Category names, or each bin's lower edge."""
    return [str(label) for label in dist.get("labels") or [number(e) for e in dist["edges"][:-1]]]


def _svg(css_class: str, label: str, width: int, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="{css_class}" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(label)}">{"".join(body)}</svg>'
    )


def distribution_svg(subject: str, dist: dict[str, Any], width: int = 460, height: int = 180) -> Markup:
    """Grouped bars of baseline and target shares per bin or category, the shares on a left axis."""
    labels = _labels(dist)
    pairs = list(zip(dist["baseline"], dist["target"], strict=True))
    top = max(max(p) for p in pairs) or 1.0
    left, bottom, plot_h = 40, height - 24, height - 34
    slot = (width - left - 6) / len(pairs)
    bar = max(slot / 2 - 1, 1)
    body = [f'<line x1="{left}" y1="{bottom}" x2="{width - 4}" y2="{bottom}" stroke="{_AXIS}"/>']
    body.append(f'<line x1="{left}" y1="{bottom - plot_h}" x2="{left}" y2="{bottom}" stroke="{_AXIS}"/>')
    for share in (0.0, top / 2, top):
        y = bottom - plot_h * share / top
        body.append(f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{share:.0%}</text>')
    for i, (b, t) in enumerate(pairs):
        x = left + 1 + i * slot
        for j, (share, colour) in enumerate(((b, BASELINE_COLOUR), (t, TARGET_COLOUR))):
            h = plot_h * share / top
            body.append(
                f'<rect x="{x + j * bar:.1f}" y="{bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(labels[i])}: {"baseline" if j == 0 else "target"} '
                f"{share:.1%}</title></rect>"
            )
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        body.append(
            f'<text x="{left + 1 + i * slot:.1f}" y="{height - 8}" font-size="10">{escape(labels[i][:10])}</text>'
        )
    return _svg("dist", f"distribution of {subject}", width, height, body)


def sparkline_svg(subject: str, dist: dict[str, Any], width: int = 120, height: int = 30) -> Markup:
    """Baseline shares as bars and target shares as a step line, one slot per bin or category."""
    base, target = dist["baseline"], dist["target"]
    top = max(*base, *target) or 1.0
    slot = width / len(base)

    def y(share: float) -> float:
        return height - 1 - (height - 3) * share / top

    bars = [
        f'<rect x="{i * slot:.1f}" y="{y(b):.1f}" width="{max(slot - 1, 0.5):.1f}" height="{height - 1 - y(b):.1f}" '
        f'fill="{BASELINE_COLOUR}" fill-opacity="0.55"/>'
        for i, b in enumerate(base)
    ]
    steps = " ".join(f"{i * slot:.1f},{y(t):.1f} {(i + 1) * slot:.1f},{y(t):.1f}" for i, t in enumerate(target))
    line = f'<polyline fill="none" stroke="{TARGET_COLOUR}" stroke-width="1.5" points="{steps}"/>'
    return _svg("spark", f"baseline and target of {subject}", width, height, [*bars, line])


def _time_label(at: datetime, span_s: float) -> str:
    """Seconds within an hour, minutes within a day, else the date too."""
    shape = "%H:%M:%S" if span_s < 3_600 else "%H:%M" if span_s < 86_400 else "%m-%d %H:%M"
    return at.astimezone(UTC).strftime(shape)


@dataclass(frozen=True)
class _Frame:
    """The plot area of the history chart: time to x (one point in the middle), score 0-100 to y."""

    width: int
    height: int
    first: float  # seconds since 1970 of the oldest point
    span: float  # seconds to the newest point (0 for one point)
    left: int = 44
    right: int = 56
    top: int = 24

    @property
    def bottom(self) -> int:
        return self.height - 40

    def x(self, t: float) -> float:
        plot = self.width - self.right - self.left
        return self.left + (plot * (t - self.first) / self.span if self.span else plot / 2)

    def y(self, score: float) -> float:
        return self.bottom - (self.bottom - self.top) * score / 100


def _score_axis(f: _Frame) -> list[str]:
    """Grid lines and labels every 20 points, the score bands dashed, and both axis lines."""
    body = [f'<rect x="{f.left}" y="{f.top}" width="{f.width - f.right - f.left}" height="{f.bottom - f.top}" '
            'fill="#fafafa"/>']  # fmt: skip
    for tick in range(0, 101, 20):
        body.append(
            f'<line x1="{f.left}" y1="{f.y(tick)}" x2="{f.width - f.right}" y2="{f.y(tick)}" stroke="{_GRID}"/>'
        )
        body.append(f'<text x="{f.left - 6}" y="{f.y(tick) + 4}" font-size="12" text-anchor="end">{tick}</text>')
    for band, status in ((SCORE_WARN_BELOW, "warn"), (SCORE_FAIL_BELOW, "fail")):
        y, colour = f.y(band), STATUS_COLOURS[status]
        body.append(
            f'<line class="threshold" x1="{f.left}" y1="{y}" x2="{f.width - f.right}" y2="{y}" stroke="{colour}" '
            f'stroke-dasharray="6 4"/><text x="{f.width - f.right + 4}" y="{y + 4}" font-size="12" '
            f'fill="{colour}">&lt; {band:.0f}</text>'
        )
    body.append(f'<line x1="{f.left}" y1="{f.bottom}" x2="{f.width - f.right}" y2="{f.bottom}" stroke="{_AXIS}"/>')
    body.append(f'<line x1="{f.left}" y1="{f.top}" x2="{f.left}" y2="{f.bottom}" stroke="{_AXIS}"/>')
    body.append(f'<text x="{f.left}" y="{f.top - 10}" font-size="12" fill="{_TEXT}" text-anchor="middle">score</text>')
    return body


def _time_axis(f: _Frame, points: int) -> list[str]:
    """Up to five evenly spaced time ticks, labelled in UTC."""
    ticks = min(points, 5)
    body = []
    for k in range(ticks):
        t = f.first + f.span * k / max(ticks - 1, 1)
        label = _time_label(datetime.fromtimestamp(t, UTC), f.span)
        body.append(f'<line x1="{f.x(t):.1f}" y1="{f.bottom}" x2="{f.x(t):.1f}" y2="{f.bottom + 4}" stroke="{_AXIS}"/>')
        body.append(f'<text x="{f.x(t):.1f}" y="{f.bottom + 17}" font-size="12" text-anchor="middle">{label}</text>')
    middle = (f.left + f.width - f.right) / 2
    body.append(f'<text x="{middle}" y="{f.height - 4}" font-size="12" fill="{_TEXT}" text-anchor="middle">')
    body.append("evaluated (UTC)</text>")
    return body


def history_svg(history: Sequence[EvaluationSummary], width: int = 640, height: int = 250) -> Markup:
    """The score of past evaluations (newest first in ``history``) against when they were made, oldest left."""
    points = [(h.evaluated_at, h.score, h.status) for h in reversed(history) if h.score is not None and h.evaluated_at]
    if not points:
        return Markup("")
    first = points[0][0].timestamp()
    f = _Frame(width, height, first, points[-1][0].timestamp() - first)
    coords = [(f.x(at.timestamp()), f.y(score)) for at, score, _ in points]
    body = [*_score_axis(f), *_time_axis(f, len(points))]
    body.append(
        f'<polyline fill="none" stroke="{BASELINE_COLOUR}" stroke-width="2" '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}"/>'
    )
    for (x, y), (at, score, status) in zip(coords, points, strict=True):
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{STATUS_COLOURS[status]}">'
            f"<title>{_time_label(at, 86_400)} UTC: {status}, score {number(score)}</title></circle>"
        )
    return _svg("history", "score history", width, height, body)
