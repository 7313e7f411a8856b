"""The parity engine on generated data: false alarms, detection, each layer, the score."""

from __future__ import annotations

import numpy as np
import pytest

from envparity.agent.wire import LATENCY_BUCKETS_S, RequestAggregates
from envparity.collector.parity import engine
from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn, Outcomes, ShadowPairs
from envparity.collector.parity.distributions import MAX_BINS
from envparity.collector.parity.engine import evaluate, layer_scores
from envparity.collector.parity.measures import classification_metrics, histogram_quantile
from envparity.collector.parity.model import Check, Thresholds

SIZES = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)


def environment(rng: np.random.Generator, name: str, n: int, features: int = 10, shift: float = 0.0) -> EnvironmentData:
    env = EnvironmentData(name, samples=n)
    for j in range(features):
        values = rng.normal(size=n) + (shift if j == 3 else 0.0)
        env.features[f"f{j}"] = FeatureColumn("numeric", numeric=values, n_total=n)
    env.features["merchant"] = FeatureColumn(
        "categorical", n_total=n, categories=rng.choice(["grocery", "fuel", "travel"], n).tolist()
    )
    env.predictions = rng.random(n)
    return env


def test_identical_environments_rarely_fail():
    """At most 1 % of service-level evaluations fail over 210 seeds and sizes from 100 to 100,000."""
    fails = []
    for seed in range(210):
        rng = np.random.default_rng(seed)
        n = SIZES[seed % len(SIZES)]
        result = evaluate("svc", environment(rng, "b", n), environment(rng, "t", n), Thresholds())
        if result.status == "fail":
            fails.append((seed, n, [c.detail for c in result.checks if c.status == "fail"][:1]))
    assert len(fails) <= 2, fails  # 1 % of 210


@pytest.mark.parametrize("n", [5_000, 20_000, 100_000])
def test_a_shift_of_0_2_std_in_one_feature_fails(n):
    for seed in range(5):
        rng = np.random.default_rng(1000 + seed)
        result = evaluate("svc", environment(rng, "b", n), environment(rng, "t", n, shift=0.2), Thresholds())
        failing = {c.subject for c in result.checks if c.status == "fail"}
        assert failing == {"f3"}, (seed, failing)


def test_small_samples_compared_together_give_the_checks_of_each_compared_alone(monkeypatch):
    rng = np.random.default_rng(11)
    base, target = environment(rng, "b", 2_000, features=30), environment(rng, "t", 2_000, features=30, shift=0.3)
    target.features["f7"] = FeatureColumn("numeric", numeric=rng.normal(size=1_500), n_total=1_500)  # a size apart
    target.features["f8"].numeric[:10] = np.nan  # missing values: compared alone
    batched = []
    compare_together = engine._batched
    monkeypatch.setattr(engine, "_batched", lambda held, t: batched.append(compare_together(held, t)) or batched[-1])
    together = evaluate("svc", base, target, Thresholds())
    assert len(batched[0]) == 29  # 28 features at 2,000 a side and the predictions; f7 and f8 alone
    monkeypatch.setattr(engine, "_batched", lambda held, t: {})
    alone = evaluate("svc", base, target, Thresholds())
    assert [c.model_dump() for c in together.checks] == [c.model_dump() for c in alone.checks]
    assert together.distributions == alone.distributions
    assert {c.subject for c in together.checks if c.status == "fail"} == {"f3"}


def test_insufficient_data_is_reported_with_counts():
    rng = np.random.default_rng(5)
    result = evaluate("svc", environment(rng, "b", 12), environment(rng, "t", 12), Thresholds())
    assert {c.status for c in result.checks} == {"insufficient_data"}
    assert "12 baseline and 12 target values (minimum 30)" in result.checks[0].detail
    assert result.score is None and result.status == "ok"


def test_schema_missing_new_and_retyped_features():
    rng = np.random.default_rng(6)
    b, t = environment(rng, "b", 500), environment(rng, "t", 500)
    del t.features["f1"]
    t.features["extra"] = FeatureColumn("numeric", numeric=rng.normal(size=500), n_total=500)
    t.features["f2"] = FeatureColumn("categorical", categories=["x"] * 500, n_total=500)
    checks = {(c.check, c.subject): c for c in evaluate("svc", b, t, Thresholds()).checks}
    assert checks[("schema", "f1")].status == "fail" and checks[("schema", "f1")].value == "missing"
    assert checks[("schema", "extra")].status == "warn"
    assert (
        checks[("schema", "f2")].status == "fail"
        and "numeric in the baseline but categorical" in checks[("schema", "f2")].detail
    )


def test_null_rate_and_range():
    rng = np.random.default_rng(7)
    b, t = environment(rng, "b", 5000), environment(rng, "t", 5000)
    t.features["f0"].numeric[:1000] = np.nan
    t.features["f5"].numeric[:600] = 50.0
    t.features["merchant"].categories[:400] = [None] * 400
    result = evaluate("svc", b, t, Thresholds())
    checks = {(c.check, c.subject): c for c in result.checks}
    assert checks[("null_rate", "f0")].status == "fail" and checks[("null_rate", "f0")].value == pytest.approx(0.2)
    assert checks[("null_rate", "merchant")].status == "fail"
    assert checks[("null_rate", "merchant")].value == pytest.approx(0.08)
    assert checks[("range", "f5")].status == "fail"
    assert checks[("range", "f6")].status == "ok" and ("range", "merchant") not in checks
    # the report draws every compared subject, the failing ones first, from the samples sorted for the comparison
    drawn = list(result.distributions)
    assert set(drawn[:3]) == {"f0", "f5", "merchant"} and {"f6", "prediction"} <= set(drawn)
    assert all(len(d["baseline"]) <= MAX_BINS for d in result.distributions.values())


def test_categorical_drift_lists_new_categories():
    rng = np.random.default_rng(8)
    b, t = environment(rng, "b", 5000), environment(rng, "t", 5000)
    t.features["merchant"].categories[:1500] = ["crypto"] * 1500
    checks = {(c.check, c.subject): c for c in evaluate("svc", b, t, Thresholds()).checks}
    assert checks[("chi2", "merchant")].status == "fail"
    assert "new: crypto" in checks[("psi", "merchant")].detail


def _aggregates(latencies: np.ndarray, errors: int) -> RequestAggregates:
    counts = np.bincount(np.searchsorted(LATENCY_BUCKETS_S, latencies), minlength=len(LATENCY_BUCKETS_S) + 1)
    return RequestAggregates(
        requests=len(latencies),
        errors={"http_5xx": errors} if errors else {},
        latency_bucket_counts=counts.tolist(),
        latency_sum_s=float(latencies.sum()),
    )


def test_infrastructure_latency_and_errors():
    rng = np.random.default_rng(9)
    b, t = EnvironmentData("b", window_s=60), EnvironmentData("t", window_s=60)
    b.requests = _aggregates(rng.lognormal(np.log(0.02), 0.3, 20_000), errors=20)
    t.requests = _aggregates(rng.lognormal(np.log(0.03), 0.3, 20_000), errors=400)
    checks = {c.check: c for c in evaluate("svc", b, t, Thresholds()).checks}
    assert checks["latency_p99_ratio"].status == "fail" and checks["latency_p99_ratio"].value > 1.2
    assert checks["error_rate"].status == "fail" and checks["error_rate"].value == pytest.approx(0.02)
    assert checks["request_rate"].value == pytest.approx(20_000 / 60)
    same = {c.check: c for c in evaluate("svc", b, b, Thresholds()).checks}
    assert same["latency_p99_ratio"].status == "ok" and same["error_rate"].status == "ok"


def test_histogram_quantile_interpolates_like_prometheus():
    agg = RequestAggregates(requests=100, latency_bucket_counts=[0] * (len(LATENCY_BUCKETS_S) + 1))
    agg.latency_bucket_counts[4] = 50  # (0.005, 0.01]
    agg.latency_bucket_counts[5] = 50  # (0.01, 0.02]
    assert histogram_quantile(0.5, agg) == pytest.approx(0.01)
    assert histogram_quantile(0.75, agg) == pytest.approx(0.015)
    assert histogram_quantile(0.25, agg) == pytest.approx(0.0075)


def test_outcome_metrics_match_the_textbook():
    rng = np.random.default_rng(10)
    actual = rng.integers(0, 2, 1000)
    predicted = np.where(rng.random(1000) < 0.8, actual, 1 - actual)
    m = classification_metrics(Outcomes(predicted, actual))
    tp = np.sum((predicted == 1) & (actual == 1))
    precision = tp / np.sum(predicted == 1)
    recall = tp / np.sum(actual == 1)
    assert m["precision"] == pytest.approx(precision)
    assert m["recall"] == pytest.approx(recall)
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert m["accuracy"] == pytest.approx(np.mean(predicted == actual))
    b, t = EnvironmentData("b"), EnvironmentData("t")
    b.outcomes, t.outcomes = Outcomes(actual, actual), Outcomes(predicted, actual)
    checks = {c.check: c for c in evaluate("svc", b, t, Thresholds()).checks}
    assert checks["f1"].status == "fail" and checks["accuracy"].status == "fail"


def test_shadow_agreement_and_feature_equality():
    shadow = ShadowPairs(matched=1000, agreeing=950, feature_mismatches={"hour": (1000, 1000), "amount": (1000, 0)})
    checks = {
        (c.check, c.subject): c
        for c in evaluate("svc", EnvironmentData("b"), EnvironmentData("t"), Thresholds(), shadow=shadow).checks
    }
    assert checks[("shadow_agreement", "prediction")].status == "fail"
    assert checks[("shadow_agreement", "prediction")].value == pytest.approx(0.95)
    assert checks[("feature_equality", "hour")].status == "fail"
    assert checks[("feature_equality", "amount")].status == "ok"


def test_score_definition():
    def check(layer, subject, status, name="x"):
        return Check(layer=layer, check=name, subject=subject, status=status, detail="")

    checks = [
        check("data", "a", "ok"),
        check("data", "a", "fail", "y"),
        check("data", "b", "warn"),
        check("data", "c", "ok"),
        check("data", "d", "insufficient_data"),
        check("fingerprint.code", "package:x", "fail"),
        check("fingerprint.code", "package:y", "ok"),
    ]
    scores = layer_scores(checks)
    assert scores == {"data": pytest.approx(100 * (0 + 0.5 + 1) / 3), "fingerprint.code": 50.0}
