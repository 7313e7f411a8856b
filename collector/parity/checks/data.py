"""Layer 2, data: per-feature drift, null rate, range violations against the baseline, and schema.

Drift of a feature is judged by the distribution checks (``drift``); the p-values
are corrected over every distribution of the evaluation by the caller and passed
in as ``q``.
"""

from __future__ import annotations

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.checks.drift import drift_checks
from envparity.collector.parity.dataset import EnvironmentData
from envparity.collector.parity.model import Check, Status, Thresholds
from envparity.collector.parity.pvalues import exceedance_pvalue
from envparity.collector.parity.stats import CategoricalComparison, NumericComparison


def feature_drift_checks(
    subject: str, c: NumericComparison | CategoricalComparison, q: float, t: Thresholds
) -> list[Check]:
    """The distribution checks of one feature."""
    return drift_checks("data", subject, c, q, t)


def quality_checks(
    subject: str, c: NumericComparison | CategoricalComparison, t: Thresholds, tests: int = 1
) -> list[Check]:
    """Null rate of any feature; the range check of a numeric one (``tests``: numeric features compared)."""
    nb, nt = c.null_rate_baseline, c.null_rate_target
    checks = [
        make_check(
            t,
            layer="data",
            check="null_rate",
            subject=subject,
            value=nt,
            status="fail" if nt - nb > t.null_rate_max_increase else "ok",
            detail=f"missing {nt:.1%} in target vs {nb:.1%} in baseline",
        )
    ]
    if isinstance(c, NumericComparison):
        checks.append(range_check(subject, c, t, tests))
    return checks


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
    return make_check(
        t,
        layer="data",
        check="range",
        subject=subject,
        value=c.range_violation,
        status=status,
        detail=f"{c.range_violation:.2%} of target values outside the baseline's range "
        f"({c.n_below} below, {c.n_above} above; p={p:.3g})",
    )


def _schema(t: Thresholds, name: str, value: str, status: Status, detail: str, reference: str | None = None) -> Check:
    return make_check(
        t, layer="data", check="schema", subject=name, value=value, status=status, detail=detail, reference=reference
    )


def schema_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    """Features missing from the target, new in it, retyped, or mixing numbers and text."""
    checks = [
        _schema(t, name, "missing", "fail", f"feature {name} is in the baseline but missing from the target")
        for name in sorted(base.features.keys() - target.features.keys())
    ]
    checks += [
        _schema(t, name, "new", "warn", f"feature {name} is new in the target")
        for name in sorted(target.features.keys() - base.features.keys())
    ]
    for name in sorted(base.features.keys() & target.features.keys()):
        kb, kt = base.features[name].kind, target.features[name].kind
        if "empty" in (kb, kt):
            continue
        if kb != kt:
            detail = f"feature {name} is {kb} in the baseline but {kt} in the target"
            checks.append(_schema(t, name, kt, "fail", detail, reference=kb))
        elif kb == "mixed":
            checks.append(_schema(t, name, "mixed", "warn", f"feature {name} mixes numbers and text"))
    return checks
