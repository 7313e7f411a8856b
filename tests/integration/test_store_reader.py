"""Reading environments out of the store: feature arrays cut to the window, kinds, shadow pairs; both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from helpers import make_snapshot

from envparity.agent.wire import Sample
from envparity.collector.store import Store, feature_reader
from envparity.collector.store.environment_reader import load_environments, load_shadow

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _values(i: int) -> dict[str, object]:
    return {
        "amount": float(i) if i % 5 else None,  # every fifth missing
        "merchant": ["grocery", "fuel", "travel"][i % 3],
        "flag": i % 2 == 0,
        "blank": None,
        "mixed": i if i % 2 else "text",
        "epoch": 1_700_000_000.001 * (1 + i / 1e6),  # a Unix time: only 64-bit floats keep its milliseconds
    }


def _store(url: str, environments: dict[str, int], failed: tuple[str, ...] = ()) -> Store:
    """Per environment, two snapshots of 20 samples one second apart (samples i = 0..39 at T0 + i s).

    In the ``failed`` environments every tenth request from the fourth on failed: no prediction.
    """
    store = Store(url)
    for env, offset in environments.items():
        for sequence in (0, 1):
            samples = [
                Sample(
                    ts=T0 + timedelta(seconds=i),
                    request_id=f"r{i}",
                    features={**_values(i), "amount": None if i % 5 == 0 else float(i + offset)},
                    prediction=None if env in failed and i % 10 == 3 else 0.9 if i % 2 else 0.1,
                    confidence=0.8,
                )
                for i in range(20 * sequence, 20 * sequence + 20)
            ]
            snap = make_snapshot(agent_id=f"agent-{env}", sequence=sequence, environment=env, samples=samples)
            store.ingest(snap, f"{env}{sequence}".ljust(64, "0"), T0)
    return store


@pytest.mark.parametrize("grouped", [True, False], ids=["one-query", "per-feature"])
def test_features_are_cut_to_the_window(store_url, monkeypatch, grouped):
    if not grouped:
        monkeypatch.setattr(feature_reader, "GROUPED_READ_MAX_VALUES", 0)
    store = _store(store_url, {"production": 0, "staging": 0})
    try:
        # samples 15..29: the end of the first snapshot and the start of the second, on both sides
        window = (T0 + timedelta(seconds=15), T0 + timedelta(seconds=30))
        data = load_environments(store, "fraud", {"production": window, "staging": window})
        read = {env: {name: f.numbers() for name, f in d.features.items()} for env, d in data.items()}
    finally:
        store.close()
    for env in ("production", "staging"):
        features = data[env].features
        assert sorted(features) == ["amount", "blank", "epoch", "flag", "merchant", "mixed"]
        np.testing.assert_array_equal(np.sort(read[env]["epoch"]), [_values(i)["epoch"] for i in range(15, 30)])
        amount = features["amount"]
        assert amount.kind == "numeric" and amount.n_total == 15
        expected = [np.nan if i % 5 == 0 else float(i) for i in range(15, 30)]
        np.testing.assert_array_equal(np.sort(read[env]["amount"]), np.sort(expected))
        assert features["merchant"].categories is not None
        assert sorted(features["merchant"].categories) == sorted(_values(i)["merchant"] for i in range(15, 30))
        assert sorted(features["flag"].categories) == sorted("true" if i % 2 == 0 else "false" for i in range(15, 30))
        assert features["blank"].kind == "empty" and features["blank"].n_total == 15
        assert features["mixed"].kind == "mixed" and features["mixed"].n_total == 15
        assert data[env].samples == 15


def test_a_window_inside_one_snapshot_and_an_earlier_window_of_everything(store_url):
    store = _store(store_url, {"production": 0})
    try:
        inside = (T0 + timedelta(seconds=3), T0 + timedelta(seconds=7))
        outside = (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
        data = load_environments(store, "fraud", {"production": inside, "production@1h": outside})
        amounts = {spec: d.features["amount"].numbers() for spec, d in data.items()}
    finally:
        store.close()
    np.testing.assert_array_equal(np.sort(amounts["production"]), [3.0, 4.0, 6.0, np.nan])
    earlier = data["production@1h"]  # one hour earlier: both snapshots whole
    assert earlier.samples == 40 and earlier.features["amount"].n_total == 40
    assert np.nansum(amounts["production@1h"]) == sum(i for i in range(40) if i % 5)


def test_shadow_pairs_name_the_feature_that_differs(store_url):
    # staging's amount is one higher, and 4 of its 40 requests failed (no prediction)
    store = _store(store_url, {"production": 0, "staging": 1}, failed=("staging",))
    try:
        shadow = load_shadow(store, "fraud", "production", "staging", T0, T0 + timedelta(minutes=1), 1e-5)
    finally:
        store.close()
    # agreement among the 36 requests with a prediction on both sides: the failed ones are error parity
    assert shadow.matched == 36 and shadow.agreeing == 36
    # amount: 32 present on both sides and one apart; the 8 missing on both sides are not compared
    assert shadow.feature_mismatches["amount"] == (32, 32)
    assert all(shadow.feature_mismatches[f] == (40, 0) for f in ("merchant", "flag", "mixed", "epoch"))
    assert "blank" not in shadow.feature_mismatches  # absent on both sides in every request
