"""Schema 5 on both backends: a version 4 store gains the claims table and, on PostgreSQL, observation tables
partitioned by day with their rows kept; retention then drops whole days there, and deletes rows on DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from envparity.collector.store import Store
from envparity.collector.store import schema as tables

NOW = datetime.now(UTC).replace(tzinfo=None)
OLD = NOW - timedelta(days=10)


def _as_version_4(store_url: str) -> None:
    """A version 4 store (no claims, plain tables) holding one snapshot of today and one of 10 days ago."""
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        plain = [t for t in tables.metadata.sorted_tables if t is not tables.evaluation_claims]
        tables.metadata.create_all(conn, tables=plain)
        conn.execute(tables.meta.insert().values(key="schema_version", value="4"))
        for seq, ts in enumerate((OLD, NOW)):
            key = {"agent_id": "a", "sequence": seq, "service": "fraud", "environment": "staging"}
            conn.execute(
                tables.snapshots.insert().values(
                    **key, window_start=ts, window_end=ts, received_at=ts, agent_version="0", body_sha256="0" * 64
                )
            )
            conn.execute(tables.samples.insert(), [{**key, "idx": i, "ts": ts} for i in range(3)])
    engine.dispose()


def _partitioned(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT relname FROM pg_class WHERE relkind = 'p'")).scalars())


def test_version_4_is_partitioned_and_retention_drops_days(store_url):
    _as_version_4(store_url)
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(tables.meta.c.value)).scalar_one() == "5"
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.evaluation_claims)).scalar_one() == 0
        assert store.row_counts()["samples"] == 6 and store.row_counts()["snapshots"] == 2
        if store_url.startswith("postgresql"):
            assert {"samples", "snapshots", "feature_columns", "evaluations"} <= _partitioned(store)
            with store.engine.connect() as conn:
                days = set(
                    conn.execute(sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'samples_p%'")).scalars()
                )
            assert f"samples_p{OLD:%Y%m%d}" in days and f"samples_p{NOW:%Y%m%d}" in days
        deleted = store.prune(NOW - timedelta(days=5))
        assert store.row_counts()["samples"] == 3 and store.row_counts()["snapshots"] == 1
        assert deleted["snapshots"] >= 0 and "samples" in deleted
        if store_url.startswith("postgresql"):
            with store.engine.connect() as conn:
                gone = conn.execute(sa.text(f"SELECT to_regclass('samples_p{OLD:%Y%m%d}')")).scalar_one()
            assert gone is None  # the day was dropped, not emptied
    finally:
        store.close()


def test_a_fresh_store_is_partitioned_ahead_and_refuses_nothing(store_url):
    store = Store(store_url)
    try:
        if store_url.startswith("postgresql"):
            with store.engine.connect() as conn:
                names = set(
                    conn.execute(sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'samples_%'")).scalars()
                )
            tomorrow = NOW + timedelta(days=1)
            assert {f"samples_p{NOW:%Y%m%d}", f"samples_p{tomorrow:%Y%m%d}", "samples_default"} <= names
        with store.engine.begin() as conn:  # a row far in the past lands in the default partition
            conn.execute(
                tables.samples.insert().values(
                    agent_id="a", sequence=0, idx=0, service="s", environment="e", ts=datetime(2001, 1, 1)
                )
            )
        assert store.prune(NOW - timedelta(days=1))["samples"] == 1
    finally:
        store.close()
