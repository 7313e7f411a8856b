"""Layer 2, data: whether there is data at all, per-feature drift, null rate, range violations, and schema.

Drift of a feature is judged by the distribution checks (``drift``) and its null
rate by a two-proportion test; their p-values are corrected together, over every
distribution and every null rate whose rise passes the floor, by the caller and
passed in as ``q``.
An environment without data fails (``samples``): a gate must never pass because
there was nothing to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.checks.drift import drift_checks, drift_status
from envparity.collector.parity.dataset import EnvironmentData
from envparity.collector.parity.model import Check, Status, Thresholds
from envparity.collector.parity.pvalues import exceedance_pvalue, two_proportion_pvalue
from envparity.collector.parity.stats import CategoricalComparison, NumericComparison
from envparity.collector.parity.windows import is_earlier_window_of


def feature_drift_checks(
    subject: str, c: NumericComparison | CategoricalComparison, q: float, t: Thresholds
) -> list[Check]:
    """The distribution checks of one feature."""
    return drift_checks("data", subject, c, q, t)


def _samples(t: Thresholds, value: float, status: Status, detail: str) -> Check:
    return make_check(t, layer="data", check="samples", subject="samples", value=value, status=status, detail=detail)


def _holds_aggregates(env: EnvironmentData) -> bool:
    return bool(env.requests and env.requests.requests) or env.gpu is not None


def presence_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds, probed: bool = False) -> list[Check]:
    """A failure when an environment holds no samples (rows) while the other does, or neither holds anything.

    An earlier window of the target itself (``production@24h``) without samples is history not
    recorded yet: not judged. Environments that both report only request or GPU aggregates, or
    only answers to golden probes (``probed``), are compared on those alone.
    """
    nb, nt = base.samples, target.samples
    if nb and nt:
        return []
    if nb:
        return [_samples(t, 0.0, "fail", f"no data in the target: 0 samples against {nb:,} in the baseline")]
    if nt and is_earlier_window_of(base.name, target.name):
        return [_samples(t, 0.0, "insufficient_data", f"no data in {base.name} yet: nothing to compare with")]
    if nt:
        return [_samples(t, 0.0, "fail", f"no data in the baseline: 0 samples against {nt:,} in the target")]
    if probed or _holds_aggregates(base) or _holds_aggregates(target):
        return []
    return [_samples(t, 0.0, "fail", "no data in either environment: nothing was compared")]


@dataclass(frozen=True)
class MissingValues:
    """Missing values of one feature on each side, and the one-sided p-value of a higher rate in the target."""

    subject: str
    missing_baseline: int
    total_baseline: int
    missing_target: int
    total_target: int

    @property
    def rates(self) -> tuple[float, float]:
        return self.missing_baseline / self.total_baseline, self.missing_target / self.total_target

    @property
    def pvalue(self) -> float:
        return two_proportion_pvalue(self.missing_baseline, self.total_baseline, self.missing_target, self.total_target)

    @property
    def rise(self) -> float:
        nb, nt = self.rates
        return nt - nb


def null_rate_check(m: MissingValues, q: float | None, t: Thresholds) -> Check:
    """Fails on a rise over ``null_rate_max_increase`` that the two-proportion test finds real after correction.

    ``q`` is the corrected p-value, None for a rise under the floor (not tested: it cannot fail).
    """
    nb, nt = m.rates
    tested = f"p={m.pvalue:.3g}, BH q={q:.3g}" if q is not None else "under the floor, not tested"
    return make_check(
        t,
        layer="data",
        check="null_rate",
        subject=m.subject,
        value=nt,
        status="ok" if q is None else drift_status(True, True, q, t),
        detail=f"missing {nt:.1%} in target vs {nb:.1%} in baseline "
        f"({m.missing_target:,} of {m.total_target:,} vs {m.missing_baseline:,} of {m.total_baseline:,}; {tested})",
    )


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
    infinite = f", {c.n_infinite} of them infinite" if c.n_infinite else ""
    return make_check(
        t,
        layer="data",
        check="range",
        subject=subject,
        value=c.range_violation,
        status=status,
        detail=f"{c.range_violation:.2%} of target values outside the baseline's range "
        f"({c.n_below} below, {c.n_above} above{infinite}; p={p:.3g})",
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
        fb, ft = base.features[name], target.features[name]
        kb, kt = fb.kind, ft.kind
        if "unsupported" in (kb, kt):
            side, note = ("baseline", fb.note) if kb == "unsupported" else ("target", ft.note)
            detail = f"feature {name} is {note} in the {side}: not compared (unsupported type)"
            checks.append(_schema(t, name, "unsupported", "insufficient_data", detail))
            continue
        if "empty" in (kb, kt):
            continue
        if kb != kt:
            detail = f"feature {name} is {kb} in the baseline but {kt} in the target"
            checks.append(_schema(t, name, kt, "fail", detail, reference=kb))
        elif kb == "mixed":
            checks.append(_schema(t, name, "mixed", "warn", f"feature {name} mixes numbers and text"))
    return checks
