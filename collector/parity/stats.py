"""Two-sample statistics for drift: numeric and categorical, with explicit PSI binning.

PSI binning modes:

* ``quantile`` (default): edges at the baseline's deciles (``bins`` = 10; ties merge
  edges, so heavy ties give fewer bins), open-ended outer bins so that every
  target value falls in a bin. Empty bins: each proportion is floored at
  ``EPS`` = 1e-4 before the logarithm (the zero-fill), without renormalising.
* ``evidently``: exactly Evidently's rule. A numeric feature with more than 20
  distinct baseline values gets ``np.histogram_bin_edges(concat(baseline, target),
  "sturges")``; otherwise one bin per value over the union of values. Empty bins
  get 0.0001, or ``min_nonzero / 1e6`` when the smallest non-zero proportion is at
  most 0.0001. PSI = sum((b - t) * ln(b / t)).

Above ``MAX_EXACT`` (200,000) values per side, the rank statistics (KS, Wasserstein)
use a seeded uniform subsample of that size: their decisions do not change at that
size, and the cost stays flat. PSI, Jensen-Shannon, KL, means, stds, null rates and
range checks always use every value: each side is sorted once, and the bins are
counted by binary search of the edges in the sorted values.

KS p-values: SciPy's ``ks_2samp`` (exact) up to ``EXACT_KS_MAX`` values per side;
the Kolmogorov distribution ``kstwo.sf(D, en)`` (what ``ks_2samp(method="asymp")``
uses) up to an effective size en = mn/(m+n) of ``KSTWO_MAX_EN`` (10,000); above
that its limit, ``kolmogorov(sqrt(en) D)`` (``kstwobign``): ``kstwo`` costs 160 ms
per call at en = 100,000 and the two differ by less than 2.5 % in the p-value there.

Missing values (NaN) are not part of any distribution; they are counted by the
null rate. Infinite values are kept by the ranks (KS) and the range check, but
dropped from quantile edges, histograms and the Wasserstein distance, where they
have no finite meaning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special
from scipy import stats as sstats

EPS = 1e-4
MAX_EXACT = 200_000
EXACT_KS_MAX = 1_000
KSTWO_MAX_EN = 10_000
Binning = Literal["quantile", "evidently"]


def subsample(x: np.ndarray, limit: int = MAX_EXACT, seed: int = 0) -> np.ndarray:
    """At most ``limit`` values, drawn uniformly without replacement with a fixed seed."""
    if x.size <= limit:
        return x
    return np.random.default_rng(seed).choice(x, size=limit, replace=False)


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _present(x: np.ndarray) -> np.ndarray:
    """The values that are not NaN (the array itself, not a copy, when none is)."""
    missing = np.isnan(x)
    return x[~missing] if missing.any() else x


def _finite_sorted(x: np.ndarray) -> np.ndarray:
    """The finite values of a sorted array without NaN: a view (infinities sit at the ends)."""
    return x[np.searchsorted(x, -np.inf, side="right") : np.searchsorted(x, np.inf, side="left")]


def _sorted_quantile_edges(finite_sorted: np.ndarray, bins: int = 10) -> np.ndarray:
    if finite_sorted.size == 0:
        return np.array([])
    # numpy's default (linear) quantile; on sorted values it is a partition of sorted data, which is cheap
    return np.unique(np.quantile(finite_sorted, np.linspace(0, 1, bins + 1)[1:-1]))


def _sorted_proportions(finite_sorted: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of values per bin (right-closed bins, open-ended outer bins), by binary search of the edges."""
    cuts = np.searchsorted(finite_sorted, inner_edges, side="right")
    counts = np.diff(cuts, prepend=0, append=finite_sorted.size)
    return counts / max(finite_sorted.size, 1)


def psi_from_proportions(b: np.ndarray, t: np.ndarray, eps: float = EPS) -> float:
    """PSI = sum((t - b) * ln(t / b)) with each proportion floored at ``eps``."""
    b, t = np.maximum(b, eps), np.maximum(t, eps)
    return float(np.sum((t - b) * np.log(t / b)))


def _quantile_proportions(bs: np.ndarray, ts: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Baseline and target shares over the baseline's quantile bins, from finite sorted values."""
    edges = _sorted_quantile_edges(bs, bins)
    return _sorted_proportions(bs, edges), _sorted_proportions(ts, edges)


def _evidently_fill(p: np.ndarray) -> np.ndarray:
    nonzero = p[p > 0]
    fill = 0.0001 if nonzero.size == 0 or nonzero.min() > 0.0001 else nonzero.min() / 1e6
    return np.where(p == 0, fill, p)


def evidently_proportions(baseline: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binned proportions exactly as Evidently computes them for PSI."""
    if np.unique(baseline).size > 20:
        edges = np.histogram_bin_edges(np.concatenate([baseline, target]), bins="sturges")
        b = np.histogram(baseline, edges)[0] / baseline.size
        t = np.histogram(target, edges)[0] / target.size
    else:
        values = np.union1d(np.unique(baseline), np.unique(target))
        b = np.array([(baseline == v).sum() for v in values]) / baseline.size
        t = np.array([(target == v).sum() for v in values]) / target.size
    return _evidently_fill(b), _evidently_fill(t)


def psi_evidently(baseline: np.ndarray, target: np.ndarray) -> float:
    b, t = evidently_proportions(_finite(baseline), _finite(target))
    return float(np.sum((b - t) * np.log(b / t)))


@dataclass(frozen=True)
class RankComparison:
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float  # not normalised


def rank_comparison(baseline: np.ndarray, target: np.ndarray) -> RankComparison:
    """KS statistic and p-value and the Wasserstein-1 distance from one merge of the two samples.

    Both empirical CDFs are evaluated at every distinct value of the pooled sample
    (a stable sort of two sorted runs, then cumulative sums): D = max |F_b - F_t|,
    W1 = integral of |F_b - F_t| (infinite values are left out of W1). The p-value
    comes from ``ks_pvalue``.
    """
    nb, nt = baseline.size, target.size
    pooled = np.concatenate([np.sort(baseline), np.sort(target)])
    order = np.argsort(pooled, kind="stable")
    values = pooled[order]
    from_b = order < nb
    cdf_b = np.cumsum(from_b) / nb
    cdf_t = np.cumsum(~from_b) / nt
    last_of_value = np.append(values[1:] != values[:-1], True)
    gaps = np.abs(cdf_b - cdf_t)
    d = float(gaps[last_of_value].max())
    with np.errstate(invalid="ignore"):  # inf - inf between equal infinities
        widths = np.diff(values)
    finite = np.isfinite(widths)
    w1 = float(np.sum(gaps[:-1][finite] * widths[finite]))
    return RankComparison(d, ks_pvalue(baseline, target, d), w1)


def ks_pvalue(baseline: np.ndarray, target: np.ndarray, d: float) -> float:
    """Two-sided KS p-value of statistic ``d`` (exact, Kolmogorov, or its limit: see the module docstring)."""
    nb, nt = baseline.size, target.size
    if max(nb, nt) <= EXACT_KS_MAX:
        return float(sstats.ks_2samp(baseline, target).pvalue)
    en = np.round(nb * nt / (nb + nt))
    if en <= KSTWO_MAX_EN:
        return float(np.clip(sstats.kstwo.sf(d, en), 0.0, 1.0))
    return float(np.clip(special.kolmogorov(np.sqrt(en) * d), 0.0, 1.0))


def _normalise(w: float, sd: float) -> float:
    if sd > 0:
        return w / sd
    return 0.0 if w == 0 else float("inf")


def _divergences(pb: np.ndarray, pt: np.ndarray) -> tuple[float, float]:
    """What ``jensenshannon(b, t, base=2)`` and ``entropy(t, b)`` give, from ``rel_entr`` directly.

    SciPy's wrappers normalise and validate their input on every call, which costs more
    than the statistic over ten bins; the proportions here are already normalised sums.
    """
    b, t = np.maximum(pb, EPS), np.maximum(pt, EPS)
    b, t = b / b.sum(), t / t.sum()
    m = (b + t) / 2
    js = np.sqrt(max(0.0, float(np.sum(special.rel_entr(b, m)) + np.sum(special.rel_entr(t, m))) / 2) / np.log(2))
    return float(js), float(np.sum(special.rel_entr(t, b)))


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


def compare_numeric(baseline: np.ndarray, target: np.ndarray, binning: Binning = "quantile") -> NumericComparison:
    """Every numeric statistic at once. NaN means missing; callers check the counts first."""
    baseline = np.asarray(baseline, dtype=float)
    target = np.asarray(target, dtype=float)
    b, t = _present(baseline), _present(target)
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
            null_rate_baseline=1 - b.size / max(baseline.size, 1),
            null_rate_target=1 - t.size / max(target.size, 1),
            range_violation=0.0,
        )
    bs, ts = subsample(b, seed=1), subsample(t, seed=2)
    ranks = rank_comparison(bs, ts)
    b_sorted, t_sorted = np.sort(b), np.sort(t)  # once: quantiles, bins, range and moments read these
    bf, tf = _finite_sorted(b_sorted), _finite_sorted(t_sorted)
    sd = float(np.std(bf)) if bf.size else 0.0
    mean_shift = _safe_ratio(float(np.mean(tf) - np.mean(bf)), sd) if bf.size and tf.size else 0.0
    pb, pt = _quantile_proportions(bf, tf)
    js, kl = _divergences(pb, pt)
    value = psi_from_proportions(pb, pt) if binning == "quantile" else psi_evidently(bf, tf)
    lo, hi = float(b_sorted[0]), float(b_sorted[-1])
    n_below = int(np.searchsorted(t_sorted, lo, side="left"))
    n_above = int(t_sorted.size - np.searchsorted(t_sorted, hi, side="right"))
    return NumericComparison(
        n_baseline=int(b.size),
        n_target=int(t.size),
        psi=value,
        ks_statistic=ranks.ks_statistic,
        ks_pvalue=ranks.ks_pvalue,
        wasserstein=_normalise(ranks.wasserstein, float(np.std(_finite(bs)))),
        js_distance=js,
        kl_divergence=kl,
        mean_shift=mean_shift,
        std_ratio=_safe_ratio(float(np.std(tf)), sd),
        null_rate_baseline=1 - b.size / max(baseline.size, 1),
        null_rate_target=1 - t.size / max(target.size, 1),
        range_violation=(n_below + n_above) / t.size,
        n_below=n_below,
        n_above=n_above,
    )


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
    if len(cats) < 2 or nb == 0 or nt == 0:
        chi2, p = 0.0, 1.0
    else:
        result = sstats.chi2_contingency(table, correction=False)
        chi2, p = float(result.statistic), float(result.pvalue)
    pb, pt = table[0] / max(nb, 1), table[1] / max(nt, 1)
    if binning == "evidently":
        fb, ft = _evidently_fill(pb), _evidently_fill(pt)
        value = float(np.sum((fb - ft) * np.log(fb / ft)))
    else:
        value = psi_from_proportions(pb, pt)
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


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    if not pvalues:
        return []
    return [float(v) for v in sstats.false_discovery_control(np.asarray(pvalues, dtype=float), method="bh")]
