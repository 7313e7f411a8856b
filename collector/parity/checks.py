"""The layer checks: infrastructure, data, prediction, outcome and fingerprint.

Distribution checks (data and prediction) decide in two steps, so that large
samples and many features do not raise false alarms: a feature drifts only when
the effect is practically large (PSI or the std-normalised Wasserstein distance
over its threshold) *and* statistically real after Benjamini-Hochberg correction
over every distribution compared in the evaluation (KS p-value for numbers,
chi-square for categories). The p-values are corrected by the caller
(``engine``) and passed in as ``q``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from envparity.collector.parity.dataset import EnvironmentData, Outcomes, ShadowPairs
from envparity.collector.parity.model import Check, Layer, Status, Thresholds
from envparity.collector.parity.stats import CategoricalComparison, NumericComparison

if TYPE_CHECKING:  # the wire models are not needed to judge, and cost 0.2 s to import
    from envparity.agent.wire import RequestAggregates
    from envparity.collector.parity.fingerprint_diff import DiffItem


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def drift_status(effect_fail: bool, effect_warn: bool, q: float, t: Thresholds) -> Status:
    """Fail only on a practical effect that is also significant after correction."""
    if effect_fail and q < t.fail_fdr:
        return "fail"
    if (effect_fail or effect_warn) and q < t.warn_fdr:
        return "warn"
    return "ok"


def numeric_drift_checks(layer: Layer, subject: str, c: NumericComparison, q: float, t: Thresholds) -> list[Check]:
    """PSI and Wasserstein each judged by its own threshold (and the corrected p-value);
    KS carries the significance and fails with them."""
    psi_status = drift_status(c.psi >= t.psi_fail, c.psi >= t.psi_warn, q, t)
    w_status = drift_status(c.wasserstein >= t.wasserstein_fail, c.wasserstein >= t.wasserstein_warn, q, t)
    ks_status: Status = (
        "fail" if "fail" in (psi_status, w_status) else "warn" if "warn" in (psi_status, w_status) else "ok"
    )
    sig = f"KS p={c.ks_pvalue:.3g}, BH q={q:.3g}, n={c.n_baseline}/{c.n_target}"
    return [
        Check(
            layer=layer,
            check="psi",
            subject=subject,
            value=c.psi,
            threshold=t.psi_fail,
            status=psi_status,
            detail=f"PSI {_fmt(c.psi)} (warn {t.psi_warn}, fail {t.psi_fail}); {sig}",
        ),
        Check(
            layer=layer,
            check="wasserstein",
            subject=subject,
            value=c.wasserstein,
            threshold=t.wasserstein_fail,
            status=w_status,
            detail=f"Wasserstein/std {_fmt(c.wasserstein)} (fail {t.wasserstein_fail}); mean shift "
            f"{_fmt(c.mean_shift)} std, std ratio {_fmt(c.std_ratio)}; {sig}",
        ),
        Check(
            layer=layer,
            check="ks",
            subject=subject,
            value=c.ks_statistic,
            threshold=t.fail_fdr,
            status=ks_status,
            detail=f"KS statistic {_fmt(c.ks_statistic)}; {sig} (fails with a practical effect)",
        ),
        Check(
            layer=layer,
            check="jensen_shannon",
            subject=subject,
            value=c.js_distance,
            threshold=None,
            status="ok",
            detail=f"JS distance {_fmt(c.js_distance)}, KL(target||baseline) {_fmt(c.kl_divergence)}",
        ),
    ]


def categorical_drift_checks(
    layer: Layer, subject: str, c: CategoricalComparison, q: float, t: Thresholds
) -> list[Check]:
    status = drift_status(c.psi >= t.psi_fail, c.psi >= t.psi_warn, q, t)
    changes = []
    if c.new_categories:
        changes.append(f"new: {', '.join(c.new_categories[:5])}")
    if c.vanished_categories:
        changes.append(f"vanished: {', '.join(c.vanished_categories[:5])}")
    extra = f"; {'; '.join(changes)}" if changes else ""
    return [
        Check(
            layer=layer,
            check="psi",
            subject=subject,
            value=c.psi,
            threshold=t.psi_fail,
            status=status,
            detail=f"PSI {_fmt(c.psi)} over categories (fail {t.psi_fail}){extra}",
        ),
        Check(
            layer=layer,
            check="chi2",
            subject=subject,
            value=c.chi2_statistic,
            threshold=t.fail_fdr,
            status=status,
            detail=f"chi-square {_fmt(c.chi2_statistic)}, p={c.chi2_pvalue:.3g} "
            f"(BH q={q:.3g}, n={c.n_baseline}/{c.n_target}){extra}",
        ),
    ]


def quality_checks(
    subject: str, c: NumericComparison | CategoricalComparison, t: Thresholds, tests: int = 1
) -> list[Check]:
    """Null rate of any feature; the range check of a numeric one (``tests``: numeric features compared)."""
    nb, nt = c.null_rate_baseline, c.null_rate_target
    checks = [
        Check(
            layer="data",
            check="null_rate",
            subject=subject,
            value=nt,
            threshold=t.null_rate_max_increase,
            status="fail" if nt - nb > t.null_rate_max_increase else "ok",
            detail=f"missing {nt:.1%} in target vs {nb:.1%} in baseline",
        )
    ]
    if isinstance(c, NumericComparison):
        checks.append(range_check(subject, c, t, tests))
    return checks


def worth_drawing(c: NumericComparison, t: Thresholds) -> bool:
    """Whether a numeric comparison can end in a warning or failure.

    A drift check warns only with an effect over its warn threshold and a corrected p-value
    under ``warn_fdr``; the correction only raises p-values, so the raw one must be under it too.
    """
    return (
        ((c.psi >= t.psi_warn or c.wasserstein >= t.wasserstein_warn) and c.ks_pvalue < t.warn_fdr)
        or c.null_rate_target - c.null_rate_baseline > t.null_rate_max_increase
        or c.range_violation > t.range_violation_max
    )


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


def range_check(subject: str, c: NumericComparison, t: Thresholds, tests: int = 1) -> Check:
    """Share of target values outside the baseline's [min, max].

    Even from the same distribution some new values fall outside the range of the
    baseline, and how many depends on how wide the baseline happened to be, so the
    check fails only when the share is over the threshold and an exact rank test
    rejects: each side's count against C(nt, k) / C(nb + nt, k), both sides and
    all features tested Bonferroni-corrected at ``fail_fdr``.
    """
    p = min(
        1.0,
        2
        * min(
            exceedance_pvalue(c.n_below, c.n_target, c.n_baseline),
            exceedance_pvalue(c.n_above, c.n_target, c.n_baseline),
        ),
    )
    status: Status = "fail" if c.range_violation > t.range_violation_max and p < t.fail_fdr / tests else "ok"
    return Check(
        layer="data",
        check="range",
        subject=subject,
        value=c.range_violation,
        threshold=t.range_violation_max,
        status=status,
        detail=f"{c.range_violation:.2%} of target values outside the baseline's range "
        f"({c.n_below} below, {c.n_above} above; p={p:.3g})",
    )


def insufficient(layer: Layer, subject: str, nb: int, nt: int, t: Thresholds) -> Check:
    return Check(
        layer=layer,
        check="drift",
        subject=subject,
        value=float(min(nb, nt)),
        threshold=t.min_samples,
        status="insufficient_data",
        detail=f"insufficient data: {nb} baseline and {nt} target values (minimum {t.min_samples})",
    )


def schema_checks(base: EnvironmentData, target: EnvironmentData) -> list[Check]:
    checks = []
    for name in sorted(base.features.keys() - target.features.keys()):
        checks.append(
            Check(
                layer="data",
                check="schema",
                subject=name,
                value="missing",
                status="fail",
                detail=f"feature {name} is in the baseline but missing from the target",
            )
        )
    for name in sorted(target.features.keys() - base.features.keys()):
        checks.append(
            Check(
                layer="data",
                check="schema",
                subject=name,
                value="new",
                status="warn",
                detail=f"feature {name} is new in the target",
            )
        )
    for name in sorted(base.features.keys() & target.features.keys()):
        kb, kt = base.features[name].kind, target.features[name].kind
        if "empty" in (kb, kt):
            continue
        if kb != kt:
            checks.append(
                Check(
                    layer="data",
                    check="schema",
                    subject=name,
                    value=kt,
                    threshold=kb,
                    status="fail",
                    detail=f"feature {name} is {kb} in the baseline but {kt} in the target",
                )
            )
        elif kb == "mixed":
            checks.append(
                Check(
                    layer="data",
                    check="schema",
                    subject=name,
                    value="mixed",
                    status="warn",
                    detail=f"feature {name} mixes numbers and text",
                )
            )
    return checks


# --- infrastructure ---------------------------------------------------------------


def histogram_quantile(q: float, agg: RequestAggregates) -> float | None:
    """Quantile by linear interpolation inside the bucket, as Prometheus' histogram_quantile."""
    total = sum(agg.latency_bucket_counts)
    if total == 0:
        return None
    rank, cumulative = q * total, 0
    bounds = [0.0, *agg.latency_bucket_bounds_s]
    for i, count in enumerate(agg.latency_bucket_counts):
        if cumulative + count >= rank and count > 0:
            if i >= len(agg.latency_bucket_bounds_s):
                return agg.latency_bucket_bounds_s[-1]  # +Inf bucket: the highest finite bound
            lo, hi = bounds[i], bounds[i + 1]
            return lo + (hi - lo) * (rank - cumulative) / count
        cumulative += count
    return agg.latency_bucket_bounds_s[-1]


def _two_proportion_p(e1: int, n1: int, e2: int, n2: int) -> float:
    """One-sided p-value that the second error rate exceeds the first (pooled z-test)."""
    from scipy.stats import norm

    pooled = (e1 + e2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(norm.sf((e2 / n2 - e1 / n1) / se))


def infrastructure_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    b, g = base.requests, target.requests
    if b is None or g is None or b.requests == 0 or g.requests == 0:
        return [
            Check(
                layer="infrastructure",
                check="requests",
                subject="service",
                status="insufficient_data",
                value=0.0,
                detail="no request aggregates in one of the environments",
            )
        ]
    checks = []
    rate_b = b.requests / base.window_s if base.window_s else None
    rate_t = g.requests / target.window_s if target.window_s else None
    if rate_b and rate_t:
        checks.append(
            Check(
                layer="infrastructure",
                check="request_rate",
                subject="service",
                value=rate_t,
                status="ok",
                detail=f"{rate_t:.3g} req/s in target vs {rate_b:.3g} in baseline",
            )
        )
    eb, eg = sum(b.errors.values()), sum(g.errors.values())
    rb, rg = eb / b.requests, eg / g.requests
    p = _two_proportion_p(eb, b.requests, eg, g.requests)
    status: Status = "fail" if rg - rb > t.error_rate_max_increase and p < t.fail_fdr else "ok"
    checks.append(
        Check(
            layer="infrastructure",
            check="error_rate",
            subject="service",
            value=rg,
            threshold=t.error_rate_max_increase,
            status=status,
            detail=f"error rate {rg:.2%} in target vs {rb:.2%} in baseline (p={p:.3g})",
        )
    )
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        lb, lt = histogram_quantile(q, b), histogram_quantile(q, g)
        if lb is None or lt is None:
            continue
        ratio = lt / lb if lb > 0 else 1.0
        failing = ratio > t.latency_ratio_max and lt - lb > t.latency_min_increase_s
        checks.append(
            Check(
                layer="infrastructure",
                check=f"latency_{name}_ratio",
                subject="service",
                value=ratio,
                threshold=t.latency_ratio_max,
                status="fail" if failing else "ok",
                detail=f"latency {name} {lt * 1000:.3g} ms in target vs {lb * 1000:.3g} ms in baseline",
            )
        )
    return checks


def gpu_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    """Saturation, memory headroom and lost GPUs of the target, next to the baseline."""
    g, b = target.gpu, base.gpu
    if g is None:
        return []
    checks = []
    if g.mean_utilization is not None:
        base_text = f" vs {b.mean_utilization:.0f}% in baseline" if b and b.mean_utilization is not None else ""
        checks.append(
            Check(
                layer="infrastructure",
                check="gpu_utilization",
                subject="gpu",
                value=g.mean_utilization,
                threshold=t.gpu_utilization_max,
                status="warn" if g.mean_utilization >= t.gpu_utilization_max else "ok",
                detail=f"mean GPU utilization {g.mean_utilization:.0f}% in target{base_text}",
            )
        )
    if g.peak_memory_used is not None:
        headroom = 1 - g.peak_memory_used
        status: Status = (
            "fail"
            if headroom < t.gpu_memory_headroom_min
            else "warn"
            if headroom < 2 * t.gpu_memory_headroom_min
            else "ok"
        )
        checks.append(
            Check(
                layer="infrastructure",
                check="gpu_memory_headroom",
                subject="gpu",
                value=headroom,
                threshold=t.gpu_memory_headroom_min,
                status=status,
                detail=f"GPU memory headroom {headroom:.1%} at the peak of the window",
            )
        )
    checks.append(
        Check(
            layer="infrastructure",
            check="gpu_lost",
            subject="gpu",
            value=float(g.lost),
            threshold=0,
            status="fail" if g.lost else "ok",
            detail=f"{g.lost} of {g.gpus} GPUs stopped answering in the window",
        )
    )
    return checks


# --- prediction: shadow ---------------------------------------------------------------


def shadow_checks(shadow: ShadowPairs | None, t: Thresholds) -> list[Check]:
    if shadow is None or shadow.matched == 0:
        return []
    if shadow.matched < t.min_samples:
        return [insufficient("prediction", "shadow_agreement", shadow.matched, shadow.matched, t)]
    agreement = shadow.agreeing / shadow.matched
    checks = [
        Check(
            layer="prediction",
            check="shadow_agreement",
            subject="prediction",
            value=agreement,
            threshold=t.shadow_agreement_min,
            status="fail" if agreement < t.shadow_agreement_min else "ok",
            detail=f"{agreement:.2%} of {shadow.matched} requests seen in both environments agree",
        )
    ]
    for feature, (n, differ) in sorted(shadow.feature_mismatches.items()):
        share = differ / n if n else 0.0
        checks.append(
            Check(
                layer="prediction",
                check="feature_equality",
                subject=feature,
                value=share,
                threshold=t.feature_mismatch_max,
                status="fail" if share > t.feature_mismatch_max else "ok",
                detail=f"{differ} of {n} shared requests differ by more than {t.feature_tolerance:g}",
            )
        )
    return checks


# --- outcome ---------------------------------------------------------------------------


def classification_metrics(o: Outcomes) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class (textbook definitions)."""
    tp = int(np.sum((o.predicted == 1) & (o.actual == 1)))
    fp = int(np.sum((o.predicted == 1) & (o.actual == 0)))
    fn = int(np.sum((o.predicted == 0) & (o.actual == 1)))
    n = len(o.actual)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(o.predicted == o.actual)) if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def outcome_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    if base.outcomes is None or target.outcomes is None:
        return []
    nb, nt = len(base.outcomes.actual), len(target.outcomes.actual)
    if min(nb, nt) < t.min_samples:
        return [insufficient("outcome", "f1", nb, nt, t)]
    mb, mt = classification_metrics(base.outcomes), classification_metrics(target.outcomes)
    return [
        Check(
            layer="outcome",
            check=name,
            subject="model",
            value=mt[name],
            threshold=t.outcome_max_drop,
            status="fail" if mb[name] - mt[name] > t.outcome_max_drop else "ok",
            detail=f"{name} {mt[name]:.3f} in target vs {mb[name]:.3f} in baseline ({nt}/{nb} outcomes)",
        )
        for name in ("accuracy", "precision", "recall", "f1")
    ]


# --- fingerprint --------------------------------------------------------------------------

_CHECK_FOR_KEY = (
    ("package:", "package"),
    ("python.", "python"),
    ("env:", "env_var"),
    ("file:", "config_key"),
    ("artifact:", "artifact_hash"),
    ("alias:", "artifact_alias"),
    ("gpu", "gpu"),
)


def fingerprint_checks(items: list[DiffItem]) -> list[Check]:
    checks = []
    for item in items:
        check = next((name for prefix, name in _CHECK_FOR_KEY if item.key.startswith(prefix)), item.key)
        status: Status = "fail" if item.severity == "fail" else "warn" if item.severity == "warn" else "ok"
        checks.append(
            Check(
                layer=f"fingerprint.{item.dimension}",
                check=check,
                subject=item.key,  # type: ignore[arg-type]
                value=item.target,
                threshold=item.baseline,
                status=status,
                detail=item.detail,
            )
        )
    return checks
