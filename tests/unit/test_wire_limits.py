"""Wire limits: every value the store cannot hold is refused by the model (a 422 at the collector), not by the store.

Each case is one of the reproducers that reached the store and answered 500: an
unbounded integer, a non-finite number, a timestamp that overflows, a NUL byte
(PostgreSQL text), a lone surrogate (Arrow), a string longer than its column, and
more distinct feature names than a snapshot may carry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import make_snapshot
from pydantic import ValidationError

from envparity.agent.wire import MAX_FEATURES, Snapshot

SURROGATE = "\ud800"


def _snapshot(**sections: Any) -> dict[str, Any]:
    ts = datetime(2026, 11, 1, 11, 59, 30, tzinfo=UTC).isoformat()
    data: dict[str, Any] = json.loads(make_snapshot().model_dump_json())
    data["samples"] = [{"ts": ts, "request_id": "r1", "features": {"amount": 1.0}, "prediction": 0.5}]
    data.update(sections)
    return data


def _sample(**fields: Any) -> dict[str, Any]:
    return {"ts": datetime(2026, 11, 1, 11, 59, 30, tzinfo=UTC).isoformat(), **fields}


def _refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Snapshot.model_validate(data)
    where = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(field in w for w in where), where


def test_a_well_formed_snapshot_with_every_section_passes() -> None:
    Snapshot.model_validate(_snapshot())


@pytest.mark.parametrize("sequence", [2**63, -1])
def test_sequence_beyond_a_64_bit_integer(sequence: int) -> None:
    data = _snapshot()
    data["header"]["sequence"] = sequence
    _refused(data, "header.sequence")


def test_window_end_that_overflows_when_converted_to_utc() -> None:
    data = _snapshot()
    data["header"]["window_end"] = "9999-12-31T23:59:59-05:00"
    _refused(data, "header.window_end")


def test_timestamp_far_in_the_future() -> None:
    data = _snapshot()
    data["header"]["window_end"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    _refused(data, "header.window_end")


def test_request_counts_must_fit_and_be_non_negative() -> None:
    buckets = [0] * 16
    for requests, counts in ((10**20, buckets), (10, [-1, *buckets[1:]])):
        data = _snapshot(requests={"requests": requests, "latency_bucket_counts": counts})
        _refused(data, "requests")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400])
def test_feature_values_must_be_finite_and_fit(value: float) -> None:
    _refused(_snapshot(samples=[_sample(features={"amount": value})]), "samples.0.features.amount")


def test_gpu_index_beyond_a_32_bit_integer() -> None:
    _refused(_snapshot(gpu={"devices": [{"uuid": "GPU-1", "index": 2**40}]}), "gpu.devices.0.index")


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"request_id": "r" * 300}, "request_id"),
        ({"model_version": "v" * 200}, "model_version"),
        ({"request_id": "a\x00b"}, "request_id"),
        ({"features": {"note": "a\x00b"}}, "features.note"),
        ({"request_id": SURROGATE}, "request_id"),
        ({"features": {"note": SURROGATE}}, "features.note"),
    ],
)
def test_strings_longer_than_their_column_or_holding_nul_or_surrogates(fields: dict[str, Any], where: str) -> None:
    _refused(_snapshot(samples=[_sample(**fields)]), f"samples.0.{where}")


@pytest.mark.parametrize("name", ["f" * 300, SURROGATE, "a\x00"])
def test_feature_names_the_store_cannot_hold(name: str) -> None:
    _refused(_snapshot(samples=[_sample(features={name: 1.0})]), "samples.0.features")


def test_distinct_feature_names_are_bounded_across_samples() -> None:
    """Disjoint names in each sample cost names x samples cells: the snapshot is refused, not stored."""
    per_sample = 100
    samples = [
        _sample(features={f"f{i}_{j}": 1.0 for j in range(per_sample)}) for i in range(MAX_FEATURES // per_sample + 1)
    ]
    with pytest.raises(ValidationError, match="distinct features"):
        Snapshot.model_validate(_snapshot(samples=samples))


def test_outcome_values_must_be_finite() -> None:
    _refused(_snapshot(outcomes=[{"request_id": "r1", "outcome": float("inf")}]), "outcomes.0.outcome")
