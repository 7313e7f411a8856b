"""Layer 3, prediction: distributions of predictions and confidences, their mean and variance, and shadow traffic.

Prediction and confidence distributions are judged by the distribution checks
(``drift``, with the p-value ``q`` corrected by the caller); a numeric one also
shows its mean shift and variance ratio for context: no threshold judges them,
so they are always ``ok`` (the drift checks beside them carry the verdict).

Requests seen in both environments (shadow traffic) are compared pairwise: the
share of agreeing predictions among the requests with a prediction on both sides
(a request that failed on a side is a matter of error parity, not agreement), and
per feature the share of differing values among the requests where the feature
is present on at least one side.
"""

from __future__ import annotations

from envparity.collector.parity.checks.builder import insufficient, make_check
from envparity.collector.parity.checks.drift import drift_checks
from envparity.collector.parity.dataset import ShadowPairs
from envparity.collector.parity.model import Check, Thresholds
from envparity.collector.parity.stats import CategoricalComparison, NumericComparison


def prediction_drift_checks(
    subject: str, c: NumericComparison | CategoricalComparison, q: float, t: Thresholds
) -> list[Check]:
    """The distribution checks of predictions or confidences; numbers add their mean shift and variance ratio."""
    checks = drift_checks("prediction", subject, c, q, t)
    if not isinstance(c, NumericComparison):
        return checks
    return [
        *checks,
        make_check(
            t,
            layer="prediction",
            check="mean_shift",
            subject=subject,
            value=c.mean_shift,
            status="ok",
            detail=f"mean moved {c.mean_shift:+.3g} baseline std",
        ),
        make_check(
            t,
            layer="prediction",
            check="variance_ratio",
            subject=subject,
            value=c.std_ratio**2,
            status="ok",
            detail=f"variance ratio target/baseline {c.std_ratio**2:.3g}",
        ),
    ]


def shadow_checks(shadow: ShadowPairs | None, t: Thresholds) -> list[Check]:
    """Agreement of the predictions, and equality of each feature, for requests seen in both environments."""
    if shadow is None or shadow.matched == 0:
        return []
    if shadow.matched < t.min_samples:
        return [insufficient(t, "prediction", "shadow_agreement", shadow.matched, shadow.matched)]
    agreement = shadow.agreeing / shadow.matched
    checks = [
        make_check(
            t,
            layer="prediction",
            check="shadow_agreement",
            subject="prediction",
            value=agreement,
            status="fail" if agreement < t.shadow_agreement_min else "ok",
            detail=f"{agreement:.2%} of {shadow.matched} requests with a prediction in both environments agree",
        )
    ]
    for feature, (n, differ) in sorted(shadow.feature_mismatches.items()):
        share = differ / n if n else 0.0
        checks.append(
            make_check(
                t,
                layer="prediction",
                check="feature_equality",
                subject=feature,
                value=share,
                status="fail" if share > t.feature_mismatch_max else "ok",
                detail=f"{differ} of {n} shared requests with the feature differ by more than {t.feature_tolerance:g}",
            )
        )
    return checks
