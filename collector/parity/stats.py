"""Two-sample statistics for drift: numeric and categorical, with explicit PSI binning.

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

Each side is sorted once (``prepare``); every statistic reads the sorted values:
bins are counted by binary search of the edges, quantiles and ranges are read off
the ends. PSI, Jensen-Shannon, KL, means, stds, null rates and range checks use
every value. Above ``MAX_EXACT`` (100,000) values per side the rank statistics
(KS, Wasserstein) read ``MAX_EXACT`` evenly spaced order statistics of each side:
their empirical CDF is within 1/``MAX_EXACT`` of the full one everywhere, so the KS
statistic moves by at most 2/``MAX_EXACT`` (2e-5), deterministically.

KS p-values: SciPy's ``ks_2samp`` (exact) up to ``EXACT_KS_MAX`` values per side;
the Kolmogorov distribution ``kstwo.sf(D, en)`` (what ``ks_2samp(method="asymp")``
uses) up to an effective size en = mn/(m+n) of ``KSTWO_MAX_EN`` (10,000); above
that its limit, the Kolmogorov distribution of sqrt(en) D (``pvalues.kolmogorov_sf``):
``kstwo`` costs 160 ms per call at en = 100,000 and the two differ by less than
2.5 % in the p-value there.

Missing values (NaN) are not part of any distribution; they are counted by the
null rate. Infinite values are kept by the ranks (KS) and the range check, but
dropped from quantile edges, histograms and the Wasserstein distance, where they
have no finite meaning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from envparity.collector.parity.pvalues import chi2_homogeneity, kolmogorov_sf, ks_exact_pvalue, kstwo_sf

EPS = 1e-4
MAX_EXACT = 100_000
EXACT_KS_MAX = 1_000
KSTWO_MAX_EN = 10_000
Binning = Literal["quantile", "evidently"]


@dataclass(frozen=True)
class SortedSample:
    """One side's present values (NaN removed), sorted once; infinities sit at the ends."""

    values: np.ndarray
    n_total: int  # values including the missing ones

    @property
    def finite(self) -> np.ndarray:
        """The finite values: a view."""
        x = self.values
        return x[np.searchsorted(x, -np.inf, side="right") : np.searchsorted(x, np.inf, side="left")]

    @property
    def null_rate(self) -> float:
        return 1 - self.values.size / max(self.n_total, 1)


def prepare(x: np.ndarray, in_place: bool = False) -> SortedSample:
    """A column of numbers (NaN = missing) as a ``SortedSample``; ``in_place`` sorts ``x`` itself (saves a copy)."""
    x = np.asarray(x, dtype=float)
    missing = np.isnan(x)
    if missing.any():
        present, in_place = x[~missing], True  # already a copy
    else:
        present = x
    if in_place and present.flags.writeable:
        present.sort()
        return SortedSample(present, int(x.size))
    return SortedSample(np.sort(present), int(x.size))


def order_statistics(sorted_values: np.ndarray, limit: int = MAX_EXACT) -> np.ndarray:
    """At most ``limit`` evenly spaced order statistics (the mid-points of equal rank blocks) of sorted values."""
    n = sorted_values.size
    if n <= limit:
        return sorted_values
    if n % limit == 0:  # blocks of equal length: a strided view
        step = n // limit
        return sorted_values[step // 2 :: step]
    return sorted_values[_mid_ranks(n, limit)]


@lru_cache(maxsize=16)
def _mid_ranks(n: int, limit: int) -> np.ndarray:
    return ((np.arange(limit) + 0.5) * (n / limit)).astype(np.intp)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std along the last axis, as ``np.mean`` and ``np.std`` give them, in two passes."""
    mean = np.mean(x, axis=-1)
    centred = x - mean[..., None]
    return mean, np.sqrt(np.einsum("...i,...i->...", centred, centred) / x.shape[-1])


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    if sorted_values.size == 0:
        return sorted_values
    return sorted_values[np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))]


def sorted_quantiles(sorted_values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(values, q, axis=-1)`` (its default, linear method) read off values sorted along the last axis."""
    n = sorted_values.shape[-1]
    h = (n - 1) * q
    lo = np.floor(h).astype(np.intp)
    below, above = sorted_values[..., lo], sorted_values[..., np.minimum(lo + 1, n - 1)]
    return below + (h - lo) * (above - below)


_DECILES = np.linspace(0, 1, 11)[1:-1]


def _sorted_quantile_edges(finite_sorted: np.ndarray) -> np.ndarray:
    if finite_sorted.size == 0:
        return np.array([])
    return _distinct(sorted_quantiles(finite_sorted, _DECILES))


def bin_counts(sorted_values: np.ndarray, inner_edges: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """Values per bin between consecutive inner edges, open-ended outer bins, by binary search of sorted values.

    ``side="right"``: bins closed on the right (a value equal to an edge counts below it); ``"left"``: on the left.
    """
    bounds = np.empty(inner_edges.size + 2, dtype=np.intp)
    bounds[0], bounds[-1] = 0, sorted_values.size
    bounds[1:-1] = np.searchsorted(sorted_values, inner_edges, side=side)
    return bounds[1:] - bounds[:-1]


def _sorted_proportions(finite_sorted: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of values per bin (right-closed bins, open-ended outer bins)."""
    return bin_counts(finite_sorted, inner_edges, "right") / max(finite_sorted.size, 1)


def psi_from_proportions(b: np.ndarray, t: np.ndarray, eps: float = EPS) -> np.ndarray:
    """PSI = sum((t - b) * ln(t / b)) along the last axis, with each proportion floored at ``eps``."""
    b, t = np.maximum(b, eps), np.maximum(t, eps)
    return np.sum((t - b) * np.log(t / b), axis=-1)


def _quantile_proportions(bs: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _evidently_proportions(b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binned proportions exactly as Evidently computes them for PSI, from finite sorted values."""
    if np.count_nonzero(b[1:] != b[:-1]) >= 20:  # more than 20 distinct values
        edges = np.histogram_bin_edges(np.concatenate([b, t]), bins="sturges")
        cb, ct = _histogram_of_sorted(b, edges), _histogram_of_sorted(t, edges)
    else:
        values = np.union1d(_distinct(b), _distinct(t))
        cb, ct = (np.searchsorted(x, values, "right") - np.searchsorted(x, values, "left") for x in (b, t))
    return cb / b.size, ct / t.size


def _psi_evidently(pb: np.ndarray, pt: np.ndarray) -> float:
    """Evidently's PSI of two share vectors: its zero-fill, then sum((b - t) * ln(b / t))."""
    b, t = _evidently_fill(pb), _evidently_fill(pt)
    return float(np.sum((b - t) * np.log(b / t)))


def psi_evidently(baseline: np.ndarray, target: np.ndarray) -> float:
    """Evidently's PSI of two samples (any order)."""
    return _psi_evidently(*_evidently_proportions(prepare(baseline).finite, prepare(target).finite))


@dataclass(frozen=True)
class RankComparison:
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float  # not normalised


def _merged_cdfs(b: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic and Wasserstein-1 distance of samples sorted along the last axis (one pair per row), by merging.

    Both empirical CDFs are evaluated at every distinct value of the pooled sample
    (a stable sort of two sorted runs is a merge, then one cumulative sum):
    D = max |F_b - F_t|, W1 = integral of |F_b - F_t| (infinite values are left out of W1).
    """
    nb, nt = b.shape[-1], t.shape[-1]
    pooled = np.concatenate([b, t], axis=-1)
    order = np.argsort(pooled, axis=-1, kind="stable")
    values = np.take_along_axis(pooled, order, axis=-1)
    # F_b - F_t after each pooled value: (b seen) / nb - (position - b seen) / nt, computed in place
    gaps = np.cumsum(order < nb, axis=-1, dtype=np.int32) * (1 / nb + 1 / nt)  # int32: NumPy's fast cumsum of bools
    gaps -= np.arange(1, nb + nt + 1, dtype=np.float64) / nt
    np.abs(gaps, out=gaps)
    with np.errstate(invalid="ignore"):  # inf - inf between equal infinities
        widths = np.diff(values, axis=-1)
    if np.isfinite(widths).all() and widths.all():  # no infinities, no ties: every position ends a value
        d = gaps.max(axis=-1)
    else:
        last_of_value = np.ones(values.shape, dtype=bool)
        last_of_value[..., :-1] = values[..., 1:] != values[..., :-1]
        d = np.where(last_of_value, gaps, 0.0).max(axis=-1)
        widths = np.where(np.isfinite(widths), widths, 0.0)
    w1 = np.einsum("...i,...i->...", gaps[..., :-1], widths)
    # D is a multiple of 1 / (nb nt): snapped to it, equal statistics are equal floats (p-values are cached by D)
    return np.round(d * nb * nt) / (nb * nt), w1


def _sorted_ranks(b: np.ndarray, t: np.ndarray) -> RankComparison:
    """KS (statistic, p-value) and Wasserstein-1 of two sorted samples (order statistics above ``MAX_EXACT``)."""
    d, w1 = (float(x) for x in _merged_cdfs(order_statistics(b), order_statistics(t)))
    return RankComparison(d, ks_pvalue(b, t, d), w1)


def rank_comparison(baseline: np.ndarray, target: np.ndarray) -> RankComparison:
    """KS statistic and p-value and the Wasserstein-1 distance of two samples (any order, NaN = missing)."""
    return _sorted_ranks(prepare(baseline).values, prepare(target).values)


def ks_pvalue(baseline: np.ndarray, target: np.ndarray, d: float) -> float:
    """Two-sided KS p-value of statistic ``d`` (exact, Kolmogorov, or its limit: see the module docstring)."""
    nb, nt = baseline.size, target.size
    if max(nb, nt) <= EXACT_KS_MAX:
        return ks_exact_pvalue(baseline, target)
    en = np.round(nb * nt / (nb + nt))
    if en <= KSTWO_MAX_EN:
        return float(np.clip(kstwo_sf(d, en), 0.0, 1.0))
    return float(np.clip(kolmogorov_sf(np.sqrt(en) * d), 0.0, 1.0))


def _normalise(w: float, sd: float) -> float:
    if sd > 0:
        return w / sd
    return 0.0 if w == 0 else float("inf")


def _rel_entr_sum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum(x * ln(x / y)) along the last axis, for strictly positive x and y (SciPy's ``rel_entr`` there)."""
    return np.sum(x * np.log(x / y), axis=-1)


def _divergences(pb: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``jensenshannon(b, t, base=2)`` and ``entropy(t, b)`` give on the floored, normalised shares (per row)."""
    b, t = np.maximum(pb, EPS), np.maximum(pt, EPS)
    b, t = b / b.sum(axis=-1, keepdims=True), t / t.sum(axis=-1, keepdims=True)
    m = (b + t) / 2
    js = np.sqrt(np.maximum(0.0, (_rel_entr_sum(b, m) + _rel_entr_sum(t, m)) / 2) / np.log(2))
    return js, _rel_entr_sum(t, b)


@dataclass(frozen=True)
class NumericComparison:
    n_baseline: int
    n_target: int
    psi: float
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float
    js_distance: float
    kl_divergence: float
    mean_shift: float  # (mean_t - mean_b) / std_b
    std_ratio: float  # std_t / std_b
    null_rate_baseline: float
    null_rate_target: float
    range_violation: float  # share of target values outside the baseline's [min, max]
    n_below: int = 0
    n_above: int = 0


def _safe_ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else float("inf")
    return a / b


def _comparison(
    n: tuple[int, int],
    psi: float,
    ranks: RankComparison,
    divergences: tuple[float, float],
    mean_shift: float,
    sds: tuple[float, float],
    outside: tuple[int, int],
    null_rates: tuple[float, float] = (0.0, 0.0),
) -> NumericComparison:
    """A ``NumericComparison`` from its parts; Wasserstein and the std ratio are scaled by the baseline's std."""
    (nb, nt), (sd_b, sd_t), (n_below, n_above) = n, sds, outside
    return NumericComparison(
        n_baseline=nb,
        n_target=nt,
        psi=psi,
        ks_statistic=ranks.ks_statistic,
        ks_pvalue=ranks.ks_pvalue,
        wasserstein=_normalise(ranks.wasserstein, sd_b),
        js_distance=divergences[0],
        kl_divergence=divergences[1],
        mean_shift=mean_shift,
        std_ratio=_safe_ratio(sd_t, sd_b),
        null_rate_baseline=null_rates[0],
        null_rate_target=null_rates[1],
        range_violation=(n_below + n_above) / nt,
        n_below=n_below,
        n_above=n_above,
    )


def compare_numeric(baseline: np.ndarray, target: np.ndarray, binning: Binning = "quantile") -> NumericComparison:
    """Every numeric statistic at once. NaN means missing; callers check the counts first."""
    return compare_sorted(prepare(baseline), prepare(target), binning)


def compare_sorted(base: SortedSample, target: SortedSample, binning: Binning = "quantile") -> NumericComparison:
    """Every numeric statistic of two prepared samples."""
    b, t = base.values, target.values
    if b.size == 0 or t.size == 0:  # nothing to compare: neutral values, the counts tell why
        return NumericComparison(
            n_baseline=int(b.size),
            n_target=int(t.size),
            psi=0.0,
            ks_statistic=0.0,
            ks_pvalue=1.0,
            wasserstein=0.0,
            js_distance=0.0,
            kl_divergence=0.0,
            mean_shift=0.0,
            std_ratio=1.0,
            null_rate_baseline=base.null_rate,
            null_rate_target=target.null_rate,
            range_violation=0.0,
        )
    ranks = _sorted_ranks(b, t)
    bf, tf = base.finite, target.finite
    (mean_b, sd), (mean_t, sd_t) = (tuple(float(m) for m in _moments(x)) if x.size else (0.0, 0.0) for x in (bf, tf))
    mean_shift = _safe_ratio(mean_t - mean_b, sd) if bf.size and tf.size else 0.0
    pb, pt = _quantile_proportions(bf, tf)
    js, kl = (float(x) for x in _divergences(pb, pt))
    value = (
        float(psi_from_proportions(pb, pt))
        if binning == "quantile"
        else _psi_evidently(*_evidently_proportions(bf, tf))
    )
    n_below = int(np.searchsorted(t, b[0], side="left"))
    n_above = int(t.size - np.searchsorted(t, b[-1], side="right"))
    return _comparison(
        (int(b.size), int(t.size)),
        value,
        ranks,
        (js, kl),
        mean_shift,
        (sd, sd_t),
        (n_below, n_above),
        (base.null_rate, target.null_rate),
    )


def compare_rows(base: np.ndarray, target: np.ndarray) -> list[NumericComparison | None]:
    """``compare_sorted`` of many pairs at once, in quantile binning: row i of each side holds one pair's values.

    For the many small comparisons of a scheduled cycle, where NumPy's per-call overhead
    outweighs the arithmetic. Each row must be sorted, finite and complete (no missing
    values), the rows of a side equally long and at most ``MAX_EXACT``; the statistics
    are computed along the rows by the same functions. A row whose baseline deciles tie
    (fewer than 10 bins) gets None: ``compare_sorted`` handles it.
    """
    step = max(1, _BLOCK_VALUES // (base.shape[1] + target.shape[1]))
    return [c for i in range(0, base.shape[0], step) for c in _compare_block(base[i : i + step], target[i : i + step])]


# Rows are compared in blocks of about this many values (256 KB per temporary array), which stay in
# the CPU's cache: twice as fast as one pass over every row.
_BLOCK_VALUES = 32_768


def _compare_block(base: np.ndarray, target: np.ndarray) -> list[NumericComparison | None]:
    nb, nt = base.shape[1], target.shape[1]
    d, w1 = _merged_cdfs(base, target)
    (mean_b, sd_b), (mean_t, sd_t) = _moments(base), _moments(target)
    edges = sorted_quantiles(base, _DECILES)
    distinct = (np.diff(edges, axis=1) > 0).all(axis=1)
    pb = np.stack([bin_counts(x, e, "right") for x, e in zip(base, edges, strict=True)]) / nb
    pt = np.stack([bin_counts(x, e, "right") for x, e in zip(target, edges, strict=True)]) / nt
    psi = psi_from_proportions(pb, pt)
    js, kl = _divergences(pb, pt)
    n_below = np.count_nonzero(target < base[:, :1], axis=1)
    n_above = np.count_nonzero(target > base[:, -1:], axis=1)
    out: list[NumericComparison | None] = []
    for i in range(base.shape[0]):
        if not distinct[i]:
            out.append(None)
            continue
        d_i, sd = float(d[i]), float(sd_b[i])
        ranks = RankComparison(d_i, ks_pvalue(base[i], target[i], d_i), float(w1[i]))
        out.append(
            _comparison(
                (nb, nt),
                float(psi[i]),
                ranks,
                (float(js[i]), float(kl[i])),
                _safe_ratio(float(mean_t[i] - mean_b[i]), sd),
                (sd, float(sd_t[i])),
                (int(n_below[i]), int(n_above[i])),
            )
        )
    return out


@dataclass(frozen=True)
class CategoricalComparison:
    n_baseline: int
    n_target: int
    psi: float
    chi2_statistic: float
    chi2_pvalue: float
    new_categories: tuple[str, ...]
    vanished_categories: tuple[str, ...]
    null_rate_baseline: float
    null_rate_target: float


def compare_categorical(
    baseline: Sequence[str | None], target: Sequence[str | None], binning: Binning = "quantile"
) -> CategoricalComparison:
    """PSI over categories and a chi-square test of homogeneity on the 2 x K contingency table.

    Categories seen on one side only are kept in the table (their zero cell is what
    makes the test reject); ``binning`` changes only the zero-fill of the PSI.
    """
    cb = Counter(v for v in baseline if v is not None)
    ct = Counter(v for v in target if v is not None)
    nb, nt = sum(cb.values()), sum(ct.values())
    cats = sorted(cb.keys() | ct.keys())
    table = np.array([[cb[c] for c in cats], [ct[c] for c in cats]], dtype=float)
    chi2, p = (0.0, 1.0) if len(cats) < 2 or nb == 0 or nt == 0 else chi2_homogeneity(table)
    pb, pt = table[0] / max(nb, 1), table[1] / max(nt, 1)
    value = _psi_evidently(pb, pt) if binning == "evidently" else float(psi_from_proportions(pb, pt))
    return CategoricalComparison(
        n_baseline=nb,
        n_target=nt,
        psi=value if cats else 0.0,
        chi2_statistic=chi2,
        chi2_pvalue=p,
        new_categories=tuple(c for c in cats if cb[c] == 0),
        vanished_categories=tuple(c for c in cats if ct[c] == 0),
        null_rate_baseline=1 - nb / max(len(baseline), 1),
        null_rate_target=1 - nt / max(len(target), 1),
    )
