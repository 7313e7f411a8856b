"""Binned distributions of baseline and target for the drifting subjects, drawn by the HTML report.

Numeric subjects share bin edges over both samples (``np.histogram_bin_edges``
with the ``auto`` rule, at most 30 bins, between the 0.5th and 99.5th
percentiles of the pooled finite values so that one outlier does not squash the
picture); categorical ones show the most frequent categories of either side.
Shares are fractions of each side's present values.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn

MAX_BINS = 30
MAX_CATEGORIES = 12
MAX_SUBJECTS = 12
OUTPUTS = {"prediction": "predictions", "confidence": "confidence"}  # subject -> EnvironmentData attribute


def numeric_histogram(base: np.ndarray, target: np.ndarray) -> dict[str, Any] | None:
    b, t = base[np.isfinite(base)], target[np.isfinite(target)]
    if not len(b) or not len(t):
        return None
    lo, hi = np.percentile(np.concatenate([b, t]), [0.5, 99.5])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.histogram_bin_edges(np.concatenate([b, t]), bins="auto", range=(lo, hi))
    if len(edges) > MAX_BINS + 1:
        edges = np.linspace(lo, hi, MAX_BINS + 1)
    shares = [np.histogram(np.clip(x, lo, hi), bins=edges)[0] / len(x) for x in (b, t)]
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "baseline": [round(float(s), 6) for s in shares[0]],
        "target": [round(float(s), 6) for s in shares[1]],
    }


def category_shares(base: list[str | None], target: list[str | None]) -> dict[str, Any] | None:
    cb, ct = Counter(c for c in base if c is not None), Counter(c for c in target if c is not None)
    nb, nt = sum(cb.values()), sum(ct.values())
    if not nb or not nt:
        return None
    top = [c for c, _ in (cb + ct).most_common(MAX_CATEGORIES)]
    return {
        "kind": "categorical",
        "labels": top,
        "baseline": [round(cb[c] / nb, 6) for c in top],
        "target": [round(ct[c] / nt, 6) for c in top],
    }


def _feature(fb: FeatureColumn, ft: FeatureColumn) -> dict[str, Any] | None:
    if fb.kind == ft.kind == "numeric":
        return numeric_histogram(fb.numeric, ft.numeric)  # type: ignore[arg-type]
    if fb.kind == ft.kind == "categorical":
        return category_shares(fb.categories, ft.categories)  # type: ignore[arg-type]
    return None


def distributions(base: EnvironmentData, target: EnvironmentData, subjects: list[str]) -> dict[str, dict[str, Any]]:
    """Binned baseline and target shares of up to ``MAX_SUBJECTS`` subjects (features, prediction, confidence)."""
    out = {}
    for subject in subjects[:MAX_SUBJECTS]:
        if subject in OUTPUTS:
            vb, vt = getattr(base, OUTPUTS[subject]), getattr(target, OUTPUTS[subject])
            drawn = numeric_histogram(vb, vt) if vb is not None and vt is not None else None
        elif subject in base.features and subject in target.features:
            drawn = _feature(base.features[subject], target.features[subject])
        else:
            drawn = None
        if drawn is not None:
            out[subject] = drawn
    return out
