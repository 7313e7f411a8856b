"""Drift statistics against independent references: SciPy, textbook formulas, Evidently's rule re-derived."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import fields

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance

from envparity.collector.parity.binning import psi_evidently
from envparity.collector.parity.distributions import MAX_BINS, numeric_histogram
from envparity.collector.parity.pvalues import benjamini_hochberg, kolmogorov_sf, two_proportion_pvalue
from envparity.collector.parity.ranks import MAX_EXACT, rank_comparison
from envparity.collector.parity.samples import prepare, sorted_quantiles
from envparity.collector.parity.stats import (
    NumericComparison,
    compare_categorical,
    compare_numeric,
    compare_rows,
    compare_sorted,
)

rng = np.random.default_rng(2026)


def textbook_psi(b_counts: np.ndarray, t_counts: np.ndarray, floor: float) -> float:
    b = np.maximum(b_counts / b_counts.sum(), floor)
    t = np.maximum(t_counts / t_counts.sum(), floor)
    return float(sum((ti - bi) * math.log(ti / bi) for bi, ti in zip(b, t, strict=True)))


def evidently_reference(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's get_binned_data + psi, written out from its documented rule."""
    if len(set(reference.tolist())) > 20:
        bins = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, bins)[0] / len(reference)
        cur = np.histogram(current, bins)[0] / len(current)
    else:
        keys = sorted(set(reference.tolist()) | set(current.tolist()))
        rc, cc = Counter(reference.tolist()), Counter(current.tolist())
        ref = np.array([rc[k] for k in keys]) / len(reference)
        cur = np.array([cc[k] for k in keys]) / len(current)
    for arr in (ref, cur):
        smallest = min(arr[arr != 0])
        np.place(arr, arr == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return float(sum((r - c) * math.log(r / c) for r, c in zip(ref, cur, strict=True)))


@pytest.mark.parametrize("n", [200, 5000])
def test_ks_matches_scipy(n):
    b, t = rng.normal(size=n), rng.normal(0.05, 1.1, size=n + 37)
    ours = rank_comparison(b, t)
    ref = stats.ks_2samp(b, t, method="exact" if n + 37 <= 1000 else "asymp")
    assert ours.ks_statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.ks_pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.05])
def test_ks_above_the_kstwo_size_uses_its_limit(shift):
    """Beyond en = 10,000: the limiting Kolmogorov distribution, within 3 % of ks_2samp(method="asymp")."""
    n = MAX_EXACT - 37  # both sides read whole
    b, t = rng.normal(size=n), rng.normal(shift, 1.0, size=n + 37)
    ours = rank_comparison(b, t)
    ref = stats.ks_2samp(b, t, method="asymp")
    en = round(n * (n + 37) / (2 * n + 37))
    assert ours.ks_statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.ks_pvalue == pytest.approx(stats.kstwobign.sf(np.sqrt(en) * ref.statistic), rel=1e-9, abs=1e-300)
    if ref.pvalue > 1e-6:  # the range where decisions are made
        assert ours.ks_pvalue == pytest.approx(ref.pvalue, rel=0.03)


@pytest.mark.parametrize("n", [MAX_EXACT * 2, MAX_EXACT * 3 + 12_345])
def test_ks_and_wasserstein_above_the_exact_size_read_order_statistics(n):
    """Evenly spaced order statistics: KS within 2 / MAX_EXACT of SciPy on every value, Wasserstein within 1 %."""
    b, t = rng.normal(size=n), rng.normal(0.02, 1.05, size=n - 999)
    ours = rank_comparison(b, t)
    assert ours.ks_statistic == pytest.approx(stats.ks_2samp(b, t).statistic, abs=2 / MAX_EXACT)
    assert ours.wasserstein == pytest.approx(stats.wasserstein_distance(b, t), rel=0.01)


def test_kolmogorov_survival_function_matches_scipy():
    x = np.concatenate([np.linspace(0.01, 3.5, 400), [0.2, 0.999999, 1.0, 1.000001, 5.0]])
    ours = np.array([kolmogorov_sf(v) for v in x])
    np.testing.assert_allclose(ours, special.kolmogorov(x), rtol=1e-12, atol=1e-300)
    assert kolmogorov_sf(0.0) == 1.0 and kolmogorov_sf(-1.0) == 1.0


def test_benjamini_hochberg_matches_scipy():
    p = np.concatenate([rng.uniform(size=60) ** 4, [0.0, 1.0, 0.5, 0.5]])
    np.testing.assert_allclose(benjamini_hochberg(p.tolist()), stats.false_discovery_control(p), rtol=1e-15)
    assert benjamini_hochberg([]) == []


@pytest.mark.parametrize("counts", [(10, 100, 20, 100), (0, 50, 3, 60), (500, 10_000, 560, 9_000), (7, 30, 2, 40)])
def test_two_proportion_pvalue_matches_statsmodels(counts):
    """The one-sided pooled z-test of the null-rate and error-rate checks, against statsmodels' proportions_ztest."""
    from statsmodels.stats.proportion import proportions_ztest

    e1, n1, e2, n2 = counts
    _, expected = proportions_ztest([e2, e1], [n2, n1], alternative="larger")
    assert two_proportion_pvalue(e1, n1, e2, n2) == pytest.approx(expected, rel=1e-9)


def test_sorted_quantiles_equal_numpy():
    for x in (rng.normal(size=1001), rng.integers(0, 5, size=40).astype(float), np.array([2.0])):
        q = np.linspace(0, 1, 11)
        np.testing.assert_allclose(sorted_quantiles(np.sort(x), q), np.quantile(x, q), rtol=1e-15, atol=1e-15)


def test_prepare_sorts_in_place_only_when_asked():
    x = rng.normal(size=100)
    kept = x.copy()
    assert np.array_equal(prepare(x).values, np.sort(kept)) and np.array_equal(x, kept)
    with_nan = np.append(x, np.nan)
    sample = prepare(with_nan, in_place=True)
    assert sample.values.size == 100 and sample.n_total == 101 and sample.null_rate == pytest.approx(1 / 101)
    prepare(x, in_place=True)
    assert np.array_equal(x, np.sort(kept))


def test_report_histogram_equals_numpy_on_clipped_values():
    b, t = rng.normal(size=3000), np.concatenate([rng.normal(0.5, 1, 2000), [40.0, -40.0]])
    drawn = numeric_histogram(prepare(b), prepare(t))
    edges = np.asarray(drawn["edges"])
    lo, hi = np.percentile(np.concatenate([b, t]), [0.5, 99.5])
    assert edges[0] == pytest.approx(lo) and edges[-1] == pytest.approx(hi) and len(edges) <= MAX_BINS + 1
    numpys = np.histogram_bin_edges(np.concatenate([b, t]), "auto", range=(lo, hi))
    assert len(numpys) > MAX_BINS + 1 and len(edges) == MAX_BINS + 1  # NumPy's auto rule asks for more bins
    for side, x in (("baseline", b), ("target", t)):
        expected = np.histogram(np.clip(x, lo, hi), bins=edges)[0] / x.size
        np.testing.assert_allclose(drawn[side], expected, atol=1e-6)


@pytest.mark.parametrize("n", [20, 80, 150])
def test_report_bins_follow_numpys_auto_rule(n):
    """Fewer values: NumPy's ``auto`` rule gives fewer than the 20 bins drawn at most."""
    b, t = rng.exponential(size=n), rng.exponential(1.3, size=n + 7)
    pooled = np.concatenate([b, t])
    lo, hi = np.percentile(pooled, [0.5, 99.5])
    edges = numeric_histogram(prepare(b), prepare(t))["edges"]
    expected = np.histogram_bin_edges(pooled, "auto", range=(lo, hi))
    assert len(expected) < MAX_BINS + 1
    np.testing.assert_allclose(edges, expected, rtol=1e-12)


def test_ks_and_wasserstein_with_heavy_ties():
    b = rng.integers(0, 4, size=3000).astype(float)
    t = rng.integers(0, 5, size=2000).astype(float)
    ours = rank_comparison(b, t)
    assert ours.ks_statistic == pytest.approx(stats.ks_2samp(b, t).statistic, abs=1e-12)
    assert ours.wasserstein == pytest.approx(stats.wasserstein_distance(b, t), abs=1e-12)


def test_wasserstein_is_normalised_by_baseline_std():
    b, t = rng.normal(0, 2, 4000), rng.normal(1, 2, 4000)
    c = compare_numeric(b, t)
    assert c.wasserstein == pytest.approx(stats.wasserstein_distance(b, t) / np.std(b), rel=1e-12)
    assert c.mean_shift == pytest.approx((t.mean() - b.mean()) / b.std(), rel=1e-12)
    assert c.std_ratio == pytest.approx(t.std() / b.std(), rel=1e-12)


def _textbook_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    bounds = [-np.inf, *edges, np.inf]
    return np.array([np.sum((x > lo) & (x <= hi)) for lo, hi in itertools.pairwise(bounds)])


def test_quantile_psi_matches_the_textbook_formula():
    b, t = rng.lognormal(0, 1, 8000), rng.lognormal(0.2, 1, 6000)
    edges = np.quantile(b, np.linspace(0, 1, 11)[1:-1])
    assert compare_numeric(b, t).psi == pytest.approx(
        textbook_psi(_textbook_counts(b, edges), _textbook_counts(t, edges), 1e-4), rel=1e-12
    )


@pytest.mark.parametrize("kind", ["continuous", "few_values", "empty_bins", "tiny_share"])
def test_evidently_psi_equals_the_rule_to_1e_9(kind):
    if kind == "continuous":
        b, t = rng.normal(size=5000), rng.normal(0.3, 1.2, size=4000)
    elif kind == "few_values":
        b, t = rng.integers(0, 6, 3000).astype(float), rng.integers(0, 8, 2500).astype(float)
    elif kind == "empty_bins":
        b, t = rng.normal(size=3000), rng.normal(4, 0.2, size=3000)
    else:
        b = np.concatenate([rng.normal(size=200_000), [50.0]])
        t = rng.normal(size=1000)
    assert psi_evidently(b, t) == pytest.approx(evidently_reference(b, t), abs=1e-9)


def test_jensen_shannon_and_kl_match_scipy_on_the_bins():
    b, t = rng.normal(size=5000), rng.normal(0.5, 1, size=5000)
    c = compare_numeric(b, t)
    edges = np.unique(np.quantile(b, np.linspace(0, 1, 11)[1:-1]))
    pb = np.maximum(np.bincount(np.searchsorted(edges, b, "right"), minlength=10) / b.size, 1e-4)
    pt = np.maximum(np.bincount(np.searchsorted(edges, t, "right"), minlength=10) / t.size, 1e-4)
    assert c.js_distance == pytest.approx(distance.jensenshannon(pb, pt, base=2), rel=1e-12)
    assert c.kl_divergence == pytest.approx(
        float(np.sum(pt / pt.sum() * np.log((pt / pt.sum()) / (pb / pb.sum())))), rel=1e-9
    )


def test_chi_square_with_unseen_categories_matches_scipy():
    b = ["a"] * 500 + ["b"] * 300 + ["c"] * 200 + [None] * 50
    t = ["a"] * 400 + ["b"] * 350 + ["d"] * 100 + [None] * 10
    c = compare_categorical(b, t)
    table = np.array([[500, 300, 200, 0], [400, 350, 0, 100]])
    ref = stats.chi2_contingency(table, correction=False)
    assert c.chi2_statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert c.chi2_pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert c.new_categories == ("d",) and c.vanished_categories == ("c",)
    assert c.null_rate_baseline == pytest.approx(50 / 1050) and c.null_rate_target == pytest.approx(10 / 860)
    assert c.psi == pytest.approx(textbook_psi(table[0].astype(float), table[1].astype(float), 1e-4), rel=1e-12)


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = rng.uniform(size=40) ** 3
    m = len(p)
    order = np.argsort(p)
    expected = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):  # textbook: q_(i) = min_{j >= i} p_(j) * m / j
        running = min(running, p[order[rank - 1]] * m / rank)
        expected[order[rank - 1]] = running
    assert benjamini_hochberg(p.tolist()) == pytest.approx(expected.tolist(), rel=1e-12)


@pytest.mark.parametrize("case", ["all_missing", "constant", "single_row", "infinities", "ties"])
def test_edge_cases_answer_without_nan(case):
    if case == "all_missing":
        b, t = np.full(100, np.nan), np.full(100, np.nan)
    elif case == "constant":
        b, t = np.full(100, 3.0), np.full(100, 3.0)
    elif case == "single_row":
        b, t = np.array([1.0]), np.array([2.0])
    elif case == "infinities":
        b = np.concatenate([rng.normal(size=500), [-np.inf]])
        t = np.concatenate([rng.normal(size=500), [np.inf] * 20])
    else:
        b, t = np.zeros(1000), np.concatenate([np.zeros(990), np.ones(10)])
    if case == "all_missing":
        c = compare_numeric(b, t)
        assert c.n_baseline == c.n_target == 0 and c.null_rate_target == 1.0
        return
    c = compare_numeric(b, t)
    for field in ("psi", "ks_statistic", "ks_pvalue", "js_distance", "kl_divergence", "range_violation"):
        assert not math.isnan(getattr(c, field)), field
    if case == "constant":
        assert c.psi == 0 and c.wasserstein == 0 and c.ks_pvalue == 1.0
    if case == "ties":
        assert c.wasserstein == float("inf")  # a constant baseline has no spread to normalise by
    if case == "infinities":
        assert c.n_above >= 20 and c.n_below == 0  # +inf is above a finite maximum; -inf is the baseline's minimum
        assert math.isfinite(c.wasserstein)  # infinite spans are left out of W1


@pytest.mark.parametrize(("nb", "nt"), [(1_500, 1_200), (400, 300)])  # the Kolmogorov and the exact p-value
def test_rows_compared_together_equal_each_pair_compared_alone(nb, nt):
    base = np.sort(rng.normal(size=(6, nb)), axis=1)
    target = np.sort(rng.normal(0.1, 1.2, size=(6, nt)), axis=1)
    base[4] = np.sort(np.round(base[4]))  # heavy ties: fewer than 10 decile bins, left to compare_sorted
    target[5] += 5  # mostly beyond the baseline's range
    target[2] = np.sort(np.round(target[2], 1))  # ties between and within the sides
    together = compare_rows(base, target)
    assert together[4] is None
    for i, row in enumerate(together):
        if row is None:
            continue
        alone = compare_sorted(prepare(base[i]), prepare(target[i]))
        for field in fields(NumericComparison):
            ours, reference = getattr(row, field.name), getattr(alone, field.name)
            assert ours == pytest.approx(reference, rel=1e-12, abs=1e-15), (i, field.name)
