"""The recorder: exact counts under threads, a uniform reservoir, windows that merge exactly."""

from __future__ import annotations

import threading
from bisect import bisect_left

import numpy as np
from scipy import stats

from envparity.agent.recorder import Recorder
from envparity.agent.wire import LATENCY_BUCKETS_S, RequestAggregates


def test_eight_threads_lose_no_count():
    recorder = Recorder(sample_size=100)
    per_thread = 20_000

    def work(t: int) -> None:
        for i in range(per_thread):
            recorder.record(
                request_id=f"{t}-{i}", latency_s=(i % 50) / 1000, error="http_5xx" if i % 100 == 0 else None
            )

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    window = recorder.seal()
    assert window.requests.requests == 8 * per_thread
    assert window.requests.errors == {"http_5xx": 8 * per_thread // 100}
    assert sum(window.requests.latency_bucket_counts) == 8 * per_thread
    expected = np.zeros(len(LATENCY_BUCKETS_S) + 1, dtype=int)
    for i in range(per_thread):
        expected[bisect_left(LATENCY_BUCKETS_S, (i % 50) / 1000)] += 8
    assert window.requests.latency_bucket_counts == expected.tolist()
    assert len(window.samples) == 100
    assert recorder.seal().requests.requests == 0  # the next window starts empty


def test_reservoir_is_uniform():
    """Inclusion counts over many windows follow the uniform k/n law (chi-square, fixed seed)."""
    n, k, windows = 200, 20, 3000
    recorder = Recorder(sample_size=k, seed=12345)
    inclusion = np.zeros(n)
    for _ in range(windows):
        for i in range(n):
            recorder.record(request_id=str(i))
        for sample in recorder.seal().samples:
            inclusion[int(sample.request_id)] += 1
    assert inclusion.sum() == windows * k
    expected = np.full(n, windows * k / n)
    result = stats.chisquare(inclusion, expected)
    # With a fixed seed the outcome is deterministic; 1e-4 guards only against a real bias.
    assert result.pvalue > 1e-4, result
    early, late = inclusion[: n // 2].sum(), inclusion[n // 2 :].sum()
    assert abs(early - late) / (windows * k) < 0.02


def test_small_windows_keep_everything_and_missing_values():
    recorder = Recorder(sample_size=10)
    recorder.record(features={"amount": 3, "merchant": "grocery", "vip": True, "note": None})
    window = recorder.seal()
    assert window.samples[0].features == {"amount": 3, "merchant": "grocery", "vip": True, "note": None}


def test_numpy_values_become_plain():
    recorder = Recorder(sample_size=10)
    recorder.record(features={"x": np.float32(1.5), "n": np.int64(3), "odd": object()}, prediction=np.float64(0.25))
    sample = recorder.seal().samples[0]
    assert sample.features["x"] == 1.5 and sample.features["n"] == 3.0
    assert isinstance(sample.features["odd"], str) and sample.prediction == 0.25


def test_windows_merge_exactly():
    rng = np.random.default_rng(7)
    latencies = rng.lognormal(-4, 1.5, size=5000)
    one, a, b = Recorder(10), Recorder(10), Recorder(10)
    for i, lat in enumerate(latencies):
        err = "timeout" if i % 37 == 0 else None
        one.record(latency_s=float(lat), error=err)
        (a if i % 3 else b).record(latency_s=float(lat), error=err)
    whole = one.seal().requests
    merged = a.seal().requests.merge(b.seal().requests)
    assert merged.requests == whole.requests
    assert merged.errors == whole.errors
    assert merged.latency_bucket_counts == whole.latency_bucket_counts
    assert abs(merged.latency_sum_s - whole.latency_sum_s) < 1e-9
    assert RequestAggregates.model_validate(merged.model_dump()) == merged


def test_outcomes_are_bounded_and_counted():
    recorder = Recorder(sample_size=10, max_outcomes=5)
    for i in range(8):
        recorder.record_outcome(f"r{i}", i % 2)
    window = recorder.seal()
    assert [o.request_id for o in window.outcomes] == [f"r{i}" for i in range(5)]
    assert window.outcomes_dropped == 3


def test_reservoir_is_uniform_across_threads():
    """Records from threads of unequal volume enter the merged sample with the same probability."""
    volumes, k, windows = (30, 60, 90, 120), 30, 600
    recorder = Recorder(sample_size=k, seed=99)
    inclusion = {t: 0 for t in range(len(volumes))}

    def work(t: int, barrier: threading.Barrier) -> None:
        for _ in range(windows):
            for i in range(volumes[t]):
                recorder.record(request_id=f"{t}-{i}")
            barrier.wait()  # everyone has recorded this window
            barrier.wait()  # the window was sealed

    barrier = threading.Barrier(len(volumes) + 1)
    threads = [threading.Thread(target=work, args=(t, barrier)) for t in range(len(volumes))]
    for t in threads:
        t.start()
    for _ in range(windows):
        barrier.wait()
        for sample in recorder.seal().samples:
            inclusion[int(sample.request_id.split("-")[0])] += 1
        barrier.wait()
    for t in threads:
        t.join()
    observed = np.array(list(inclusion.values()))
    expected = np.array(volumes) / sum(volumes) * k * windows
    assert observed.sum() == k * windows
    assert stats.chisquare(observed, expected).pvalue > 1e-4, (observed, expected)
