"""The HTML parity report: one evaluation as a self-contained page (no scripts, no external assets).

Served by the collector at ``/report`` and written by ``envparity check --format
html``. Read first: the summary (verdict, score, how many features drifted and
which, what fails per layer, the most likely cause), then the probable causes,
the checks that need attention, the feature table (a distribution per feature,
each row opening on baseline against target, its statistics and thresholds),
the fingerprint differences, every check by layer and the history of the score.
A navigation bar links every section and layer; the layout fits from a phone's
width up (tables turn into stacked rows on narrow screens).
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment, PackageLoader, select_autoescape

from envparity.collector.parity.model import LAYERS, SCORE_FAIL_BELOW, SCORE_WARN_BELOW, STATUS_ORDER
from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary
from envparity.collector.report.causes import HEADING, cause_rows, unexplained_line
from envparity.collector.report.charts import (
    BASELINE_COLOUR,
    TARGET_COLOUR,
    distribution_svg,
    history_svg,
    sparkline_svg,
)
from envparity.collector.report.features import feature_rows, layer_findings
from envparity.collector.report.formatting import anchor, cell_class, number, when

# the columns of the tables of checks: (field, heading, width; None: what the others leave)
_STATUS, _DETAIL = ("status", "Status", "7%"), ("detail", "Detail", None)
COLUMNS = {
    "attention": (
        _STATUS,
        ("layer", "Layer", "12%"),
        ("check", "Check", "12%"),
        ("subject", "Subject", "16%"),
        ("threshold", "Threshold or baseline", "10%"),
        ("value", "Measured or target", "10%"),
        _DETAIL,
    ),
    "layer": (
        _STATUS,
        ("check", "Check", "13%"),
        ("subject", "Subject", "17%"),
        ("value", "Measured or target", "10%"),
        ("threshold", "Threshold or baseline", "10%"),
        _DETAIL,
    ),
    "feature": (
        ("status", "Status", "11%"),
        ("layer", "Layer", "13%"),
        ("check", "Check", "20%"),
        ("value", "Value", "11%"),
        ("threshold", "Threshold", "11%"),
        _DETAIL,
    ),
}
_templates = Environment(
    loader=PackageLoader("envparity.collector.report", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
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
    features = feature_rows(ev)
    return _templates.get_template("report.html").render(
        ev=ev,
        causes=cause_rows(causes) if causes else None,
        causes_heading=HEADING,
        unexplained=unexplained_line(causes) if causes else "",
        attention=[c for c in checks if c.status in ("fail", "warn")],
        features=features,
        drifted=[f.subject for f in features if f.drifted],
        feature_count=sum(f.layer == "data" for f in features),
        findings=layer_findings(ev),
        by_layer={layer: rows for layer, rows in by_layer.items() if rows},
        fingerprint=[c for c in checks if c.layer.startswith("fingerprint.")],
        history=history,
        history_chart=history_svg(history),
        score_bands=(SCORE_WARN_BELOW, SCORE_FAIL_BELOW),
        choices=choices,
        distribution=distribution_svg,
        sparkline=sparkline_svg,
        number=number,
        when=when,
        anchor=anchor,
        cell_class=cell_class,
        columns=COLUMNS,
        colours=(BASELINE_COLOUR, TARGET_COLOUR),
    )
