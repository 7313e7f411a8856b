"""Snapshots written in groups (one transaction each) on both backends, and the column form of samples (wire 1.3).

Within a group, as between groups: a repeated body is a duplicate, another body under the same key a conflict, a
fingerprint sent in full by one snapshot serves another that names it by hash, and one snapshot the database
refuses fails alone. Samples sent as columns are stored exactly as the same samples sent as rows.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa
from helpers import base_fingerprint, make_snapshot, post_snapshot
from pydantic import ValidationError

from envparity.agent.wire import Sample, SampleColumns, Snapshot
from envparity.collector.store import SequenceConflict, Store, UnknownFingerprint
from envparity.collector.store import schema as tables
from envparity.collector.store.ingest import PreparedSnapshot, prepare

NOW = datetime.now(UTC)


def _samples(n: int = 5) -> list[Sample]:
    values = [1.5, 2, True, "a", None]
    return [
        Sample(
            ts=NOW - timedelta(seconds=n - i),
            request_id=f"r{i}" if i % 2 else None,
            features={"x": i * 0.5, "mixed": values[i % 5], "flag": i % 2 == 0, **({"late": "z"} if i > 2 else {})},
            prediction="cat" if i == 3 else float(i),
            confidence=0.9,
        )
        for i in range(n)
    ]


def _prepared(snap: Snapshot, body: str = "a") -> PreparedSnapshot:
    return prepare(snap, body * 64, NOW)


@pytest.fixture
def store(store_url: str):
    opened = Store(store_url)
    yield opened
    opened.close()


def test_a_group_answers_each_snapshot_as_it_would_alone(store):
    full = make_snapshot(agent_id="a", sequence=0)
    by_hash = make_snapshot(agent_id="b", sequence=0, acked=base_fingerprint().hash)
    unknown = make_snapshot(agent_id="c", sequence=0)
    unknown.fingerprint, unknown.fingerprint_hash = None, "f" * 64
    group = [
        _prepared(by_hash),  # its fingerprint comes in full later in the same group
        _prepared(full),
        _prepared(full),  # the same body again: a duplicate
        _prepared(full, body="b"),  # another body under the same key: a conflict
        _prepared(unknown),
    ]
    results = store.ingest_group(group)
    assert results[0].duplicate is False and results[1].duplicate is False
    assert results[1].rows["fingerprints"] == 1 and results[0].rows["fingerprints"] == 0
    assert results[2].duplicate is True
    assert isinstance(results[3], SequenceConflict) and isinstance(results[4], UnknownFingerprint)
    assert store.row_counts()["snapshots"] == 2 and store.row_counts()["fingerprints"] == 1
    again = store.ingest_group([_prepared(full), _prepared(by_hash)])  # in a later group: duplicates
    assert [r.duplicate for r in again] == [True, True]


def test_columns_are_stored_as_the_same_samples_sent_as_rows(store):
    samples = _samples()
    rows = make_snapshot(agent_id="rows", samples=samples)
    columns = make_snapshot(agent_id="columns")
    columns.columns = SampleColumns.of(samples)
    columns = Snapshot.model_validate_json(columns.model_dump_json())  # as the collector receives it
    assert [r.rows["samples"] for r in store.ingest_group([_prepared(rows), _prepared(columns)])] == [5, 5]
    for table in (tables.samples, tables.feature_columns):
        assert _stored(store, table, "rows") == _stored(store, table, "columns") != []


def _stored(store: Store, table: sa.Table, agent: str) -> list[tuple]:
    """An agent's rows of a table, without the agent's id."""
    order = table.c.idx if table is tables.samples else table.c.feature
    with store.engine.connect() as conn:
        query = sa.select(*(c for c in table.c if c.name != "agent_id")).where(table.c.agent_id == agent)
        return [tuple(row) for row in conn.execute(query.order_by(order))]


def test_columns_must_align():
    snap = make_snapshot()
    data = snap.model_dump(mode="json")
    data["columns"] = {"ts": [NOW.isoformat()] * 2, "request_id": ["a"]}
    with pytest.raises(ValidationError, match="request_id has 1 values for 2 samples"):
        Snapshot.model_validate(data)
    data["columns"] = {"ts": [NOW.isoformat()], "features": {"x": [1.0, 2.0]}}
    with pytest.raises(ValidationError, match=r"features\.x has 2 values for 1 samples"):
        Snapshot.model_validate(data)
    data["samples"] = [s.model_dump(mode="json") for s in _samples(1)]
    data["columns"] = {"ts": [NOW.isoformat()]}
    with pytest.raises(ValidationError, match="not both"):
        Snapshot.model_validate(data)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_snapshot_the_database_refuses_fails_alone(store):
    good = [_prepared(make_snapshot(agent_id=f"ok-{i}", samples=_samples())) for i in range(3)]
    bad = _prepared(make_snapshot(agent_id="bad", samples=_samples()))
    too_long = pa.array(["x" * 300] * bad.samples.num_rows)  # longer than the column: PostgreSQL refuses it
    bad = dataclasses.replace(bad, samples=bad.samples.set_column(6, "request_id", too_long))
    results = store.ingest_group([good[0], bad, *good[1:]])
    assert isinstance(results[1], Exception) and "too long" in str(results[1])
    assert [r.duplicate for i, r in enumerate(results) if i != 1] == [False, False, False]
    assert store.row_counts()["snapshots"] == 3 and store.row_counts()["samples"] == 15


def test_the_collector_takes_columns_over_http(collector):
    snap = make_snapshot(agent_id="http")
    snap.columns = SampleColumns.of(_samples())
    answer = post_snapshot(collector.url, snap)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"]["samples"] == 5 and answer.json()["wire_version"] == "1.3"
