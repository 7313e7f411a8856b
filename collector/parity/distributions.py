"""Binned distributions of baseline and target for every compared subject, drawn by the HTML report.

Every feature, prediction and confidence compared is drawn, the drifting ones
first, at most ``MAX_SUBJECTS`` of them, so that a stored evaluation stays small
(under 1 kB per subject). Numeric subjects share bin edges over both samples
(NumPy's ``auto`` bin rule, at most 20 bins, between the 0.5th and 99.5th
percentiles of the pooled finite values so that one outlier does not squash the
picture; edges are read from at most ``EDGE_SAMPLE`` evenly spaced order
statistics per side, the shares from every value); categorical ones show the
most frequent categories of either side. Shares are fractions of each side's
present values.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from envparity.collector.parity.dataset import EnvironmentData
from envparity.collector.parity.samples import SortedSample, bin_counts, order_statistics, sorted_quantiles

MAX_BINS = 20
MAX_CATEGORIES = 12
MAX_SUBJECTS = 40
EDGE_SAMPLE = 50_000


_OUTER = np.array([0.005, 0.995])
_QUARTILES = np.array([0.25, 0.75])


def _bin_count(inside: np.ndarray, lo: float, hi: float) -> int:
    """NumPy's ``auto`` bin rule over [lo, hi], from the sorted values inside it (at most ``MAX_BINS``).

    The smaller of the Freedman-Diaconis width (2 IQR n^(-1/3), when the IQR is not 0) and the
    Sturges width (the values' range / (log2 n + 1)), as ``np.histogram_bin_edges(x, "auto")``
    chooses it, without selecting the quartiles again.
    """
    n = inside.size
    width = (inside[-1] - inside[0]) / (np.log2(n) + 1.0) if n else 0.0
    q1, q3 = sorted_quantiles(inside, _QUARTILES) if n else (0.0, 0.0)
    if q3 > q1:
        width = min(width, 2.0 * (q3 - q1) * n ** (-1 / 3))
    return min(MAX_BINS, int(np.ceil((hi - lo) / width))) if width > 0 else 1


def numeric_histogram(base: SortedSample, target: SortedSample) -> dict[str, Any] | None:
    """Shares of both sides over shared edges; values beyond the edges count in the outer bins."""
    b, t = base.finite, target.finite
    if not b.size or not t.size:
        return None
    # two sorted runs: a stable sort merges them
    pooled = np.sort(
        np.concatenate([order_statistics(b, EDGE_SAMPLE), order_statistics(t, EDGE_SAMPLE)]), kind="stable"
    )
    lo, hi = sorted_quantiles(pooled, _OUTER)  # np.percentile(pooled, [0.5, 99.5])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    inside = pooled[np.searchsorted(pooled, lo) : np.searchsorted(pooled, hi, side="right")]
    edges = np.linspace(lo, hi, _bin_count(inside, lo, hi) + 1)
    shares = [bin_counts(x, edges[1:-1], "left") / x.size for x in (b, t)]
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "baseline": np.round(shares[0], 6).tolist(),
        "target": np.round(shares[1], 6).tolist(),
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


def distributions(
    subjects: list[str], numeric: dict[str, dict[str, Any]], base: EnvironmentData, target: EnvironmentData
) -> dict[str, dict[str, Any]]:
    """Binned shares of the first ``MAX_SUBJECTS`` subjects: numeric ones drawn while compared, categories here."""
    out = {}
    for subject in subjects[:MAX_SUBJECTS]:
        drawn = numeric.get(subject)
        fb, ft = base.features.get(subject), target.features.get(subject)
        if drawn is None and fb is not None and ft is not None and fb.kind == ft.kind == "categorical":
            drawn = category_shares(fb.categories, ft.categories)  # type: ignore[arg-type]
        if drawn is not None:
            out[subject] = drawn
    return out
