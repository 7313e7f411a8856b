"""P-values of the checks' tests, importing SciPy's statistics only where they are needed.

The drift tests (KS, chi-square) with the Benjamini-Hochberg correction over them,
the exact rank test of the range check, and the two-proportion test of error rates.

Importing ``scipy.stats`` takes 0.7 s and ``scipy.special`` 0.3 s on a 2-core
machine: more than all the statistics of a 1M-row ``envparity compare``. That
comparison needs neither: above an effective size of 10,000 its KS p-values come
from the limiting Kolmogorov distribution, and the correction over features is
Benjamini-Hochberg; both are closed forms written out here and tested against
SciPy (``scipy.special.kolmogorov``, ``scipy.stats.false_discovery_control``).
Exact and small-sample p-values (``ks_2samp``, ``kstwo``, ``chi2_contingency``)
import SciPy on first use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_TERMS = range(1, 21)


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution K (the limit of sqrt(en) D).

    Below 1, one minus the Jacobi theta form of the CDF, sqrt(2 pi) / x *
    sum exp(-(2k - 1)^2 pi^2 / (8 x^2)); from 1, the alternating series
    2 sum (-1)^(k-1) exp(-2 k^2 x^2). Twenty terms of either reach double precision.
    """
    if x <= 0:
        return 1.0
    if x < 1:
        terms = (math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * x * x)) for k in _TERMS)
        return 1.0 - math.sqrt(2 * math.pi) / x * math.fsum(terms)
    return 2 * math.fsum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in _TERMS)


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values: q_(i) = min over j >= i of p_(j) m / j, capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return []
    descending = np.argsort(p, kind="stable")[::-1]
    scaled = p[descending] * p.size / np.arange(p.size, 0, -1)
    q = np.empty(p.size)
    q[descending] = np.minimum(np.minimum.accumulate(scaled), 1.0)
    return q.tolist()


def ks_exact_pvalue(baseline: np.ndarray, target: np.ndarray) -> float:
    """SciPy's two-sample KS p-value (exact at these sizes)."""
    from scipy import stats

    return float(stats.ks_2samp(baseline, target).pvalue)


@lru_cache(maxsize=65536)
def kstwo_sf(d: float, en: float) -> float:
    """P(D > d) for the one-sample KS statistic at size ``en`` (SciPy's ``kstwo``).

    Cached: it costs 0.5 ms a call, and D is a multiple of 1 / (nb nt), so windows of one
    size (the agents' reservoirs) ask for a few hundred distinct values over and over.
    """
    from scipy import stats

    return float(stats.kstwo.sf(d, en))


def chi2_homogeneity(table: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of a 2 x K table without continuity correction: (statistic, p-value)."""
    from scipy import stats

    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def exceedance_pvalue(outside: int, n_target: int, n_baseline: int) -> float:
    """P(at least ``outside`` of the target values exceed every baseline value) under exchangeability.

    The top ``k`` of the pooled sample are all target values with probability
    C(nt, k) / C(nb + nt, k), whatever the (continuous) distribution.
    """
    if outside <= 0:
        return 1.0
    if outside > n_target:
        return 0.0
    n = n_target + n_baseline
    lg = math.lgamma
    log_p = lg(n_target + 1) - lg(n_target - outside + 1) - lg(n + 1) + lg(n - outside + 1)
    return float(math.exp(log_p))


def two_proportion_pvalue(e1: int, n1: int, e2: int, n2: int) -> float:
    """One-sided p-value that the second rate (``e2`` of ``n2``) exceeds the first (pooled z-test)."""
    from scipy.stats import norm

    pooled = (e1 + e2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(norm.sf((e2 / n2 - e1 / n1) / se))
