"""An evaluation reads about ``max_samples`` of an environment whose window holds more; both backends.

The store holds two environments of 3 agents x 24 snapshots x 50 samples (3,600 samples
each), the staging one with feature ``x`` shifted by one standard deviation. With
``max_samples=1000`` each environment is read one snapshot in four (sequence a multiple of
4), so the values read are exactly those of these snapshots inside the window, computed here
from the generated data; the drift is still found and the identical feature still passes.
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
from envparity.collector.store.environment_reader import load_environments

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AGENTS, SNAPSHOTS, PER_SNAPSHOT, MAX_SAMPLES = 3, 24, 50, 1_000
SHIFT = {"production": 0.0, "staging": 1.0}


def _ts(sequence: int, i: int) -> datetime:
    return T0 + timedelta(seconds=sequence * PER_SNAPSHOT + i)


def _x(env: str, agent: int, sequence: int) -> np.ndarray:
    return np.random.default_rng([len(env), agent, sequence]).normal(SHIFT[env], 1.0, PER_SNAPSHOT)


def _store(url: str) -> Store:
    store = Store(url)
    for env in SHIFT:
        for agent in range(AGENTS):
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
            for agent in range(AGENTS)
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
    in_window = 21 * PER_SNAPSHOT * AGENTS
    stride = -(-in_window // MAX_SAMPLES)
    assert stride == 4
    for env, data in thinned.items():
        assert whole[env].samples == data.samples == in_window and whole[env].thinned_to is None
        expected = _expected(env, stride)
        np.testing.assert_array_equal(read[env], expected)
        assert data.thinned_to == expected.size and data.features["x"].n_total == expected.size
        assert data.predictions is not None and data.predictions.size == expected.size
        assert (
            data.features["colour"].categories is not None and len(data.features["colour"].categories) == expected.size
        )
        assert data.outcomes is not None and data.outcomes.actual.size == len(range(4, 22, stride)) * AGENTS
    assert MAX_SAMPLES * 0.5 < read["production"].size <= MAX_SAMPLES * 1.2


def test_a_thinned_evaluation_still_finds_the_drift_and_counts_what_it_compared(store_url):
    store = _store(store_url)
    try:
        service = ParityService(store, ParityConfig(), window=WINDOW[1] - WINDOW[0], max_samples=MAX_SAMPLES)
        evaluation = service.evaluate_pair("fraud", "production", "staging", end=WINDOW[1])
    finally:
        store.close()
    status = {(c.subject, c.check): c.status for c in evaluation.checks}
    assert status[("x", "psi")] == "fail" and status[("same", "psi")] == "ok"
    compared = _expected("production", 4).size
    assert evaluation.counts == {
        "baseline_samples": 21 * PER_SNAPSHOT * AGENTS,
        "target_samples": 21 * PER_SNAPSHOT * AGENTS,
        "baseline_compared": compared,
        "target_compared": compared,
    }
    assert f"Samples: baseline {21 * PER_SNAPSHOT * AGENTS} ({compared} compared," in render_report(evaluation)


def test_the_collector_refuses_too_few_samples_in_one_line(tmp_path):
    result = run_cli("collector", "serve", "--db", str(tmp_path / "s.duckdb"), "--max-samples", "10")
    assert result.returncode == 2
    assert result.stderr.strip() == "envparity: error: --max-samples 10: at least 1,000, or the checks lack samples"
