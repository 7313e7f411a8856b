"""How the demo ends: the incident in short, from the collector's evaluation of staging -> production.

The outcome layer's F1, precision and recall in each environment (the checks
carry the target's value and say the baseline's), then the probable causes,
most likely first, each with the symptoms it explains.
"""

from __future__ import annotations

import re

from envparity.collector.parity.record import EvaluationRecord
from envparity.collector.report.text import causes_text

# an outcome check's detail: "f1 0.512 in target vs 0.947 in baseline (1392/1392 outcomes)"
_METRIC = re.compile(r"(?P<name>\w+) (?P<target>[\d.]+) in target vs (?P<baseline>[\d.]+) in baseline \((?P<n>\d+)/")


def outcome_line(ev: EvaluationRecord) -> str:
    """F1, precision and recall per environment, and whether the outcome layer fails."""
    found = {m["name"]: m for c in ev.checks if c.layer == "outcome" and (m := _METRIC.match(c.detail))}
    if "f1" not in found:
        return "No labels joined to predictions yet: the outcome layer has nothing to judge."
    parts = [
        f"{name} {ev.baseline} {found[name]['baseline']}, {ev.target} {found[name]['target']}"
        for name in ("f1", "precision", "recall")
        if name in found
    ]
    failing = any(c.layer == "outcome" and c.status == "fail" for c in ev.checks)
    verdict = "the outcome layer fails" if failing else "the outcome layer passes"
    return f"Labels arrived late ({found['f1']['n']} per environment): {'; '.join(parts)}: {verdict}."


def print_incident(ev: EvaluationRecord) -> None:
    print(outcome_line(ev))
    print()
    print(causes_text(ev.probable_causes) if ev.probable_causes else "No probable causes were ranked.")
