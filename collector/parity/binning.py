"""Binned shares of two samples, and what is computed from them: PSI, Jensen-Shannon distance, KL divergence.

PSI binning modes:

* ``quantile`` (default): edges at the baseline's deciles (10 bins; ties merge
  edges, so heavy ties give fewer bins), open-ended outer bins so that every
  target value falls in a bin. Empty bins: each proportion is floored at
  ``EPS`` = 1e-4 before the logarithm (the zero-fill), without renormalising.
* ``evidently``: exactly Evidently's rule. A numeric feature with more than 20
  distinct baseline values gets ``np.histogram_bin_edges(concat(baseline, target),
  "sturges")``; otherwise one bin per value over the union of values. Empty bins
  get 0.0001, or ``min_nonzero / 1e6`` when the smallest non-zero proportion is at
  most 0.0001. PSI = sum((b - t) * ln(b / t)).

Every function reads finite values sorted once (``samples.prepare``): bins are
counted by binary search of the edges. Infinite values are dropped from quantile
edges and histograms, where they have no finite meaning.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from envparity.collector.parity.samples import bin_counts, distinct, prepare, sorted_quantiles

EPS = 1e-4
Binning = Literal["quantile", "evidently"]
DECILES = np.linspace(0, 1, 11)[1:-1]


def _sorted_quantile_edges(finite_sorted: np.ndarray) -> np.ndarray:
    if finite_sorted.size == 0:
        return np.array([])
    return distinct(sorted_quantiles(finite_sorted, DECILES))


def _sorted_proportions(finite_sorted: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of values per bin (right-closed bins, open-ended outer bins)."""
    shares: np.ndarray = bin_counts(finite_sorted, inner_edges, "right") / max(finite_sorted.size, 1)
    return shares


def psi_from_proportions(b: np.ndarray, t: np.ndarray, eps: float = EPS) -> np.ndarray:
    """PSI = sum((t - b) * ln(t / b)) along the last axis, with each proportion floored at ``eps``."""
    b, t = np.maximum(b, eps), np.maximum(t, eps)
    psi: np.ndarray = np.sum((t - b) * np.log(t / b), axis=-1)
    return psi


def quantile_proportions(bs: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline and target shares over the baseline's decile bins, from finite sorted values."""
    edges = _sorted_quantile_edges(bs)
    return _sorted_proportions(bs, edges), _sorted_proportions(ts, edges)


def _evidently_fill(p: np.ndarray) -> np.ndarray:
    nonzero = p[p > 0]
    fill = 0.0001 if nonzero.size == 0 or nonzero.min() > 0.0001 else nonzero.min() / 1e6
    return np.where(p == 0, fill, p)


def _histogram_of_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """What ``np.histogram(values, edges)[0]`` counts (half-open bins, the last one closed), by binary search."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    cuts[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(cuts)


def evidently_proportions(b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binned proportions exactly as Evidently computes them for PSI, from finite sorted values."""
    if np.count_nonzero(b[1:] != b[:-1]) >= 20:  # more than 20 distinct values
        edges = np.histogram_bin_edges(np.concatenate([b, t]), bins="sturges")
        cb, ct = _histogram_of_sorted(b, edges), _histogram_of_sorted(t, edges)
    else:
        values = np.union1d(distinct(b), distinct(t))
        cb, ct = (np.searchsorted(x, values, "right") - np.searchsorted(x, values, "left") for x in (b, t))
    return cb / b.size, ct / t.size


def evidently_psi_of_shares(pb: np.ndarray, pt: np.ndarray) -> float:
    """Evidently's PSI of two share vectors: its zero-fill, then sum((b - t) * ln(b / t))."""
    b, t = _evidently_fill(pb), _evidently_fill(pt)
    return float(np.sum((b - t) * np.log(b / t)))


def psi_evidently(baseline: np.ndarray, target: np.ndarray) -> float:
    """Evidently's PSI of two samples (any order)."""
    return evidently_psi_of_shares(*evidently_proportions(prepare(baseline).finite, prepare(target).finite))


def _rel_entr_sum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum(x * ln(x / y)) along the last axis, for strictly positive x and y (SciPy's ``rel_entr`` there)."""
    total: np.ndarray = np.sum(x * np.log(x / y), axis=-1)
    return total


def divergences(pb: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``jensenshannon(b, t, base=2)`` and ``entropy(t, b)`` give on the floored, normalised shares (per row)."""
    b, t = np.maximum(pb, EPS), np.maximum(pt, EPS)
    b, t = b / b.sum(axis=-1, keepdims=True), t / t.sum(axis=-1, keepdims=True)
    m = (b + t) / 2
    js = np.sqrt(np.maximum(0.0, (_rel_entr_sum(b, m) + _rel_entr_sum(t, m)) / 2) / np.log(2))
    return js, _rel_entr_sum(t, b)
