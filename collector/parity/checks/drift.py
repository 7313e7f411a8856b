"""Distribution checks, shared by the data layer (features) and the prediction layer (predictions, confidences).

They decide in two steps, so that large samples and many features do not raise
false alarms: a subject drifts only when the effect is practically large (PSI or
the std-normalised Wasserstein distance over its threshold) *and* statistically
real after Benjamini-Hochberg correction over every distribution compared in the
evaluation (KS p-value for numbers, chi-square for categories). The p-values are
corrected by the caller (``engine``) and passed in as ``q``.
"""

from __future__ import annotations

from functools import partial

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.model import Check, Layer, Status, Thresholds
from envparity.collector.parity.stats import CategoricalComparison, NumericComparison


def _fmt(x: float) -> str:
    return f"{x:.4g}"


# KS decides significance, not size: a KS row that is not ok says which effect made it so
_EFFECT = {
    "fail": " (fails with the practical effect of PSI or Wasserstein)",
    "warn": " (warns with the effect of PSI or Wasserstein)",
}


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
    row = partial(make_check, t, layer=layer, subject=subject)
    return [
        row(
            check="psi",
            value=c.psi,
            status=psi_status,
            detail=f"PSI {_fmt(c.psi)} (warn {t.psi_warn}, fail {t.psi_fail}); {sig}",
        ),
        row(
            check="wasserstein",
            value=c.wasserstein,
            status=w_status,
            detail=f"Wasserstein/std {_fmt(c.wasserstein)} (fail {t.wasserstein_fail}); mean shift "
            f"{_fmt(c.mean_shift)} std, std ratio {_fmt(c.std_ratio)}; {sig}",
        ),
        row(
            check="ks",
            value=c.ks_statistic,
            status=ks_status,
            detail=f"KS statistic {_fmt(c.ks_statistic)}; {sig}{_EFFECT.get(ks_status, '')}",
        ),
        row(
            check="jensen_shannon",
            value=c.js_distance,
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
    chi2 = f"chi-square {_fmt(c.chi2_statistic)}, p={c.chi2_pvalue:.3g} (BH q={q:.3g}, n={c.n_baseline}/{c.n_target})"
    row = partial(make_check, t, layer=layer, subject=subject, status=status)
    return [
        row(check="psi", value=c.psi, detail=f"PSI {_fmt(c.psi)} over categories (fail {t.psi_fail}){extra}"),
        row(check="chi2", value=c.chi2_statistic, detail=f"{chi2}{extra}"),
    ]


def drift_checks(
    layer: Layer, subject: str, c: NumericComparison | CategoricalComparison, q: float, t: Thresholds
) -> list[Check]:
    """The distribution checks of one compared subject, numeric or categorical."""
    if isinstance(c, NumericComparison):
        return numeric_drift_checks(layer, subject, c, q, t)
    return categorical_drift_checks(layer, subject, c, q, t)
