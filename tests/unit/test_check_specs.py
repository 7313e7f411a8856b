"""Every check the engine produces is named in ``check_specs``, in one of its layers, with its threshold's value."""

from __future__ import annotations

import numpy as np

from envparity.agent.wire import LATENCY_BUCKETS_S, FingerprintBody, RequestAggregates, seal_fingerprint
from envparity.collector.parity.check_specs import CHECKS, check_spec
from envparity.collector.parity.checks.golden import GoldenProbes, ProbeAnswers
from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn, GpuUsage, Outcomes, ShadowPairs
from envparity.collector.parity.engine import evaluate
from envparity.collector.parity.fingerprint_diff import diff_fingerprints
from envparity.collector.parity.model import LAYERS, Check, Thresholds

# every threshold away from its default, so that a check reporting the default (or another field) is caught
THRESHOLDS = Thresholds(
    psi_warn=0.11,
    psi_fail=0.27,
    wasserstein_warn=0.06,
    wasserstein_fail=0.12,
    fail_fdr=0.004,
    warn_fdr=0.04,
    min_samples=31,
    null_rate_max_increase=0.06,
    range_violation_max=0.07,
    latency_ratio_max=1.3,
    error_rate_max_increase=0.02,
    gpu_utilization_max=85.0,
    gpu_memory_headroom_min=0.06,
    shadow_agreement_min=0.97,
    feature_mismatch_max=0.001,
    golden_tolerance=2e-4,
    outcome_max_drop=0.04,
)


def _fingerprint(variant: int) -> FingerprintBody:
    """A fingerprint with every kind of entry; two variants differ in each of them."""
    v = str(variant)
    digest = v * 64
    return FingerprintBody.model_validate(
        {
            "code": {
                "python": {"version": f"3.11.{v}", "implementation": f"CPython{v}"},
                "packages": {"numpy": f"{v}.0.0"},
                "image": f"model:{v}",
                "image_digest": f"sha256:{digest}",
                "revision": f"rev{v}",
            },
            "config": {
                "env": {"CACHE_TTL": {"value": v}},
                "files": {"app.yaml": {"format": "yaml", "keys": {"timeout": {"value": v}}}},
            },
            "artifacts": {
                "items": {"model.bin": {"kind": "file", "sha256": digest, "size_bytes": variant}},
                "aliases": {"prod": {"target": f"models/m{v}", "sha256": digest}},
            },
            "compute": {
                "platform": f"linux-{v}",
                "machine": f"x86_{v}",
                "cpu_model": f"cpu{v}",
                "cpu_count": variant,
                "memory_bytes": variant,
                "cgroup_cpu_limit": float(variant),
                "cgroup_memory_limit_bytes": variant,
                "gpus": [
                    {
                        "index": 0,
                        "name": f"gpu{v}",
                        "uuid": f"GPU-{v}",
                        "memory_total_bytes": variant,
                        "driver_version": v,
                        "cuda_driver_version": v,
                        "compute_capability": v,
                        "mig_mode": variant % 2 == 0,
                    }
                ],
            },
        }
    )


def _requests(rng: np.random.Generator, scale: float, errors: int) -> RequestAggregates:
    latencies = rng.lognormal(np.log(scale), 0.3, 20_000)
    counts = np.bincount(np.searchsorted(LATENCY_BUCKETS_S, latencies), minlength=len(LATENCY_BUCKETS_S) + 1)
    return RequestAggregates(
        requests=latencies.size,
        errors={"http_5xx": errors},
        latency_bucket_counts=counts.tolist(),
        latency_sum_s=float(latencies.sum()),
    )


def _environment(rng: np.random.Generator, name: str, n: int, shift: float) -> EnvironmentData:
    """Numeric, categorical, mixed, missing, new and retyped features, predictions, requests, GPUs and outcomes."""
    env = EnvironmentData(name, samples=n, window_s=60)
    for j in range(4):
        values = rng.normal(size=n) + shift
        values[: int(n * shift / 5)] = np.nan
        env.features[f"f{j}"] = FeatureColumn("numeric", numeric=values, n_total=n)
    categories = rng.choice(["a", "b", "c"], n).tolist()
    categories[: int(n * shift / 2)] = ["z"] * int(n * shift / 2)
    env.features["merchant"] = FeatureColumn("categorical", categories=categories, n_total=n)
    env.features["mixed"] = FeatureColumn("mixed", n_total=n)
    env.features["retyped"] = (
        FeatureColumn("categorical", categories=["x"] * n, n_total=n)
        if shift
        else FeatureColumn("numeric", numeric=rng.normal(size=n), n_total=n)
    )
    env.features["new" if shift else "gone"] = FeatureColumn("numeric", numeric=rng.normal(size=n), n_total=n)
    env.predictions, env.confidence = rng.random(n) + shift / 4, rng.random(n)
    env.requests = _requests(rng, 0.02 * (1 + shift), int(20 + 400 * shift))
    env.gpu = GpuUsage(
        gpus=2, mean_utilization=50 + 45 * shift, peak_memory_used=0.9 + 0.08 * shift, lost=int(shift > 0)
    )
    predicted = rng.integers(0, 2, n)
    actual = np.where(rng.random(n) < 0.1 + 0.3 * shift, 1 - predicted, predicted)
    env.outcomes = Outcomes(predicted, actual)
    return env


def _checks() -> list[Check]:
    """The checks of evaluations covering every layer and fingerprint dimension, with enough and too few samples."""
    items = diff_fingerprints(seal_fingerprint(_fingerprint(1)), seal_fingerprint(_fingerprint(2)))
    checks = []
    for n, matched in ((5_000, 5_000), (20, 20)):
        rng = np.random.default_rng(n)
        shadow = ShadowPairs(matched=matched, agreeing=int(matched * 0.9), feature_mismatches={"f0": (matched, 3)})
        base, target = _environment(rng, "b", n, 0.0), _environment(rng, "t", n, 0.5)
        golden = GoldenProbes(
            ProbeAnswers({"a": {"/score": 0.5}}), ProbeAnswers({"a": {"/score": 0.6}, "b": {"/x": 1.0}})
        )
        checks += evaluate("svc", base, target, THRESHOLDS, items, shadow, golden).checks
    checks += evaluate(
        "svc", EnvironmentData("b", requests=_requests(rng, 0.02, 0)), EnvironmentData("t"), THRESHOLDS
    ).checks
    checks += evaluate("svc", _environment(rng, "b", 100, 0.0), EnvironmentData("t"), THRESHOLDS).checks  # no data
    return checks


def test_every_check_produced_is_named_in_the_specs_with_its_layers_and_threshold():
    checks = _checks()
    assert {c.layer for c in checks} == set(LAYERS)
    assert {c.status for c in checks} == {"ok", "warn", "fail", "insufficient_data"}
    for c in checks:
        spec = check_spec(c.check)
        assert c.layer in spec.layers, c
        if spec.threshold is not None:
            assert c.threshold == getattr(THRESHOLDS, spec.threshold), c


def test_the_evaluations_above_produce_every_check_in_the_specs():
    produced = {c.check for c in _checks()}
    assert {spec.name for spec in CHECKS} - produced == set()
