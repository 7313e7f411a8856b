"""An evaluation reads about ``max_samples`` of an environment whose window holds more; both backends.

The store holds production, 3 agents x 24 snapshots x 50 samples, and staging, one such
agent, with feature ``x`` shifted by one standard deviation. With ``max_samples=1100``
production (3,150 samples in the window) is read one snapshot in three (sequence a multiple
of 3) and staging (1,050) whole, so the values read are exactly those of these snapshots
inside the window, computed here from the generated data; the drift is still found and the
identical feature still passes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from helpers import make_snapshot, run_cli

from envparity.agent.wire import Outcome, Sample
from envparity.collector.parity.model import ParityConfig
from envparity.collector.report.html import render_report
from envparity.collector.service import ParityService
from envparity.collector.store import Store, feature_reader
from envparity.collector.store.environment_reader import _stride, load_environments

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SNAPSHOTS, PER_SNAPSHOT, MAX_SAMPLES = 24, 50, 1_100
SHIFT = {"production": 0.0, "staging": 1.0}
AGENTS = {"production": 3, "staging": 1}
STRIDE = {"production": 3, "staging": 1}
IN_WINDOW = {env: 21 * PER_SNAPSHOT * agents for env, agents in AGENTS.items()}


def _ts(sequence: int, i: int) -> datetime:
    return T0 + timedelta(seconds=sequence * PER_SNAPSHOT + i)


def _x(env: str, agent: int, sequence: int) -> np.ndarray:
    return np.random.default_rng([len(env), agent, sequence]).normal(SHIFT[env], 1.0, PER_SNAPSHOT)


def _store(url: str) -> Store:
    store = Store(url)
    for env in SHIFT:
        for agent in range(AGENTS[env]):
            for sequence in range(SNAPSHOTS):
                x = _x(env, agent, sequence)
                samples = [
                    Sample(
                        ts=_ts(sequence, i),
                        request_id=f"{env}-{agent}-{sequence}-{i}",
                        features={"x": float(x[i]), "same": float(i), "colour": ["red", "blue"][i % 2]},
                        prediction=float(i % 2),
                    )
                    for i in range(PER_SNAPSHOT)
                ]
                snap = make_snapshot(agent_id=f"{env}-{agent}", sequence=sequence, environment=env, samples=samples)
                store.ingest(snap, f"{env}{agent}-{sequence}".ljust(64, "0"), T0)
            outcomes = [Outcome(request_id=f"{env}-{agent}-{s}-0", outcome=0) for s in range(SNAPSHOTS)]
            store.add_outcomes("fraud", env, outcomes)
    return store


# from the middle of snapshot 1 to the middle of snapshot 22: snapshots crossing both edges are cut
WINDOW = (_ts(1, 25), _ts(22, 25))


def _expected(env: str, stride: int) -> np.ndarray:
    """The values of ``x`` inside the window of the snapshots whose sequence is a multiple of ``stride``."""
    start, end = WINDOW
    return np.sort(
        [
            value
            for agent in range(AGENTS[env])
            for sequence in range(0, SNAPSHOTS, stride)
            for i, value in enumerate(_x(env, agent, sequence))
            if start <= _ts(sequence, i) < end
        ]
    )


@pytest.mark.parametrize("grouped", [True, False], ids=["one-query", "per-feature"])
def test_a_large_window_is_read_one_snapshot_in_n(store_url, monkeypatch, grouped):
    if not grouped:
        monkeypatch.setattr(feature_reader, "GROUPED_READ_MAX_VALUES", 0)
    store = _store(store_url)
    try:
        windows = dict.fromkeys(SHIFT, WINDOW)
        whole = load_environments(store, "fraud", windows)
        thinned = load_environments(store, "fraud", windows, max_samples=MAX_SAMPLES)
        read = {env: np.sort(data.features["x"].numbers()) for env, data in thinned.items()}  # type: ignore[arg-type]
    finally:
        store.close()
    assert read["production"].size == 7 * PER_SNAPSHOT * 3 and read["staging"].size == IN_WINDOW["staging"]
    for env, data in thinned.items():
        assert whole[env].samples == data.samples == IN_WINDOW[env]
        expected = _expected(env, STRIDE[env])
        np.testing.assert_array_equal(read[env], expected)
        assert data.thinned_to == (expected.size if STRIDE[env] > 1 else None)
        assert data.features["x"].n_total == expected.size
        assert data.predictions is not None and data.predictions.size == expected.size
        colours = data.features["colour"].categories
        assert colours is not None and len(colours) == expected.size
        outcomes = sum(sequence % STRIDE[env] == 0 for sequence in range(2, 23)) * AGENTS[env]
        assert data.outcomes is not None and data.outcomes.actual.size == outcomes


def test_a_thinned_evaluation_still_finds_the_drift_and_counts_what_it_compared(store_url):
    store = _store(store_url)
    try:
        service = ParityService(store, ParityConfig(), window=WINDOW[1] - WINDOW[0], max_samples=MAX_SAMPLES)
        evaluation = service.evaluate_pair("fraud", "production", "staging", end=WINDOW[1])
    finally:
        store.close()
    status = {(c.subject, c.check): c.status for c in evaluation.checks}
    assert status[("x", "psi")] == "fail" and status[("same", "psi")] == "ok"
    compared = _expected("production", 3).size
    assert evaluation.counts == {
        "baseline_samples": IN_WINDOW["production"],
        "target_samples": IN_WINDOW["staging"],
        "baseline_compared": compared,
        "target_compared": IN_WINDOW["staging"],
    }
    line = f"Samples: baseline 3150 ({compared} compared: about one snapshot in 3 of this large window), target 1050."
    assert line in render_report(evaluation)


@pytest.mark.parametrize(
    ("samples", "sequences", "max_samples", "stride"),
    [
        (3_150, 22, 1_100, 3),
        (900, 22, 1_100, 1),
        (5_000, 1, 1_000, 1),
        (5_000, 8, 1_000, 2),
        (9_000_000, 1_000, 500_000, 18),
    ],
)
def test_a_stride_leaves_a_few_snapshots_at_least(samples, sequences, max_samples, stride):
    """One large snapshot is read whole: a stride close to the sequence numbers in the window could read none."""
    assert _stride(samples, sequences, max_samples) == stride


def test_the_collector_refuses_too_few_samples_in_one_line(tmp_path):
    result = run_cli("collector", "serve", "--db", str(tmp_path / "s.duckdb"), "--max-samples", "10")
    assert result.returncode == 2
    assert result.stderr.strip() == "envparity: error: --max-samples 10: at least 1,000, or the checks lack samples"


def test_the_service_refuses_no_samples():
    with pytest.raises(ValueError, match=r"^max_samples 999: at least 1,000, or the checks lack samples$"):
        ParityService(None, max_samples=999)  # type: ignore[arg-type]
