"""Store: schema versioning, migrations and retention, and the losses agents report, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from helpers import make_snapshot

from envparity.agent.wire import RequestAggregates
from envparity.collector.scheduler import prune_once
from envparity.collector.store import Store
from envparity.collector.store import schema as tables
from envparity.collector.store.migrations import SchemaTooNew


def test_retention_prunes_old_rows_and_orphan_fingerprints(store_url):
    store = Store(store_url)
    try:
        old = make_snapshot(sequence=0, requests=RequestAggregates(requests=1))
        store.ingest(old, "a" * 64, datetime.now(UTC))
        recent = make_snapshot(sequence=1, environment="production")
        recent.header.window_start = datetime.now(UTC) - timedelta(minutes=1)
        recent.header.window_end = datetime.now(UTC)
        store.ingest(recent, "b" * 64, datetime.now(UTC))
        deleted = prune_once(store, retention_days=1)
        assert deleted["snapshots"] == 1 and deleted["request_windows"] == 1
        assert deleted["fingerprints"] == 0  # still referenced by the recent snapshot
        assert store.row_counts()["snapshots"] == 1
        assert [e["environment"] for e in store.environments()] == ["production"]
    finally:
        store.close()


def test_schema_is_versioned_and_newer_is_refused(store_url):
    Store(store_url).close()
    store = Store(store_url)  # a second start migrates nothing and keeps the version
    with store.engine.begin() as conn:
        version = conn.execute(sa.select(tables.meta.c.value)).scalar_one()
        assert version == str(tables.SCHEMA_VERSION)
        conn.execute(tables.meta.update().values(value=str(tables.SCHEMA_VERSION + 1)))
    store.close()
    with pytest.raises(SchemaTooNew, match="newer than this envparity"):
        Store(store_url)


def _as_version_2(store_url: str) -> None:
    """A store as version 2 kept it: snapshots without the losses their agents report."""
    engine = sa.create_engine(store_url)
    index = "ix_snapshots_env_window"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP INDEX {index}"))  # DuckDB drops no column of an indexed table
        conn.execute(sa.text("ALTER TABLE snapshots DROP COLUMN snapshots_lost"))
        conn.execute(sa.text(f"CREATE INDEX {index} ON snapshots (service, environment, window_end)"))
        conn.execute(tables.meta.update().values(value="2"))
    engine.dispose()


def test_version_2_gains_the_losses_agents_report(store_url):
    store = Store(store_url)
    store.ingest(make_snapshot(sequence=0), "a" * 64, datetime.now(UTC))  # sent by a wire 1.0 agent
    store.close()
    _as_version_2(store_url)
    store = Store(store_url)  # migrates
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(tables.meta.c.value)).scalar_one() == str(tables.SCHEMA_VERSION)
        lost = {"spool_bound": 2, "server_error": 1}
        store.ingest(make_snapshot(sequence=3, snapshots_lost=lost), "b" * 64, datetime.now(UTC))
        [env] = store.environments()
        assert env["snapshots_lost"] == lost and env["snapshots_missing"] == 2  # sequences 1 and 2
        assert env["agents"][0]["snapshots_lost"] == lost and env["agents"][0]["snapshots_missing"] == 2
    finally:
        store.close()


def test_losses_add_up_over_agents_from_each_ones_newest_report(store_url):
    store = Store(store_url)
    try:
        reports = [("a", 0, {}), ("a", 1, {"refused": 1}), ("a", 4, {"refused": 1, "spool_bound": 2}), ("b", 7, {})]
        for agent, sequence, lost in reports:
            snap = make_snapshot(agent_id=agent, sequence=sequence, snapshots_lost=lost)
            store.ingest(snap, f"{agent}{sequence}".ljust(64, "0"), datetime.now(UTC))
        store.ingest(make_snapshot(agent_id="a", sequence=2), "c" * 64, datetime.now(UTC))  # late, and older
        [env] = store.environments()
        assert env["snapshots_lost"] == {"refused": 1, "spool_bound": 2}
        assert env["snapshots_missing"] == 1  # a: 3 (b sent one snapshot)
    finally:
        store.close()


def _as_version_1(store_url: str) -> None:
    """A store as version 1 kept it: one ``sample_features`` row per sample and feature."""
    Store(store_url).close()
    _as_version_2(store_url)
    engine = sa.create_engine(store_url)
    old = sa.MetaData()
    sample_features = sa.Table(
        "sample_features",
        old,
        *(sa.Column(c, sa.String(128)) for c in ("agent_id", "service", "environment", "feature", "str", "kind")),
        sa.Column("sequence", sa.BigInteger),
        sa.Column("idx", sa.Integer),
        sa.Column("ts", sa.DateTime),
        sa.Column("num", sa.Float),
    )
    ts = datetime(2026, 11, 1, 12, 0)
    key = {"service": "fraud", "environment": "staging", "agent_id": "a"}
    with engine.begin() as conn:
        tables.feature_columns.drop(conn)
        old.create_all(conn)
        if conn.dialect.name == "duckdb":  # version 1's numbers were 32-bit there (the indexed tables too)
            conn.execute(sa.text("DROP INDEX ix_evaluations_pair"))
            conn.execute(sa.text("ALTER TABLE evaluations ALTER COLUMN score TYPE FLOAT"))
            conn.execute(
                sa.text("CREATE INDEX ix_evaluations_pair ON evaluations (service, baseline, target, evaluated_at)")
            )
            conn.execute(sa.text("ALTER TABLE samples ALTER COLUMN prediction_num TYPE FLOAT"))
        conn.execute(tables.meta.update().values(value="1"))
        # snapshot 0 whole (samples 0..2); snapshot 1 partly pruned (sample 0 gone)
        samples = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)]
        conn.execute(tables.samples.insert(), [{**key, "sequence": s, "idx": i, "ts": ts} for s, i in samples])
        rows = [
            (0, 0, "x", 1.5, None, "num"),
            (0, 1, "x", None, None, "null"),  # x absent from sample 2
            (0, 0, "c", None, "u", "str"),
            (0, 1, "c", 1.0, None, "bool"),
            (0, 2, "c", None, "v", "str"),
            (1, 1, "x", 2.0, None, "num"),
        ]
        conn.execute(
            sample_features.insert(),
            [
                {**key, "sequence": s, "idx": i, "ts": ts, "feature": f, "num": n, "str": t, "kind": k}
                for s, i, f, n, t, k in rows
            ],
        )
    engine.dispose()


def test_version_1_feature_rows_become_arrays(store_url):
    _as_version_1(store_url)
    store = Store(store_url)  # migrates
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(tables.meta.c.value)).scalar_one() == str(tables.SCHEMA_VERSION)
            assert not sa.inspect(conn).has_table("sample_features")
            c = tables.feature_columns.c
            rows = conn.execute(
                sa.select(c.sequence, c.feature, c.length, c.numbers, c.texts, c.booleans, c.num, c.str).order_by(
                    c.sequence, c.feature
                )
            ).all()
            if store.is_duckdb:
                types = conn.execute(
                    sa.text(
                        "SELECT table_name, data_type FROM information_schema.columns "
                        "WHERE column_name IN ('score', 'prediction_num', 'num')"
                    )
                ).all()
                assert sorted(types) == [
                    ("evaluations", "DOUBLE"),
                    ("feature_columns", "DOUBLE[]"),
                    ("samples", "DOUBLE"),
                ]
                index = "SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'ix_evaluations_pair'"
                assert conn.execute(sa.text(index)).scalar_one() == 1  # rebuilt after the column changed
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [
        (0, "c", 3, 0, 2, 1, [None, 1.0, None], ["u", "true", "v"]),
        (0, "x", 3, 1, 0, 0, [1.5, None, None], None),
    ]  # the partly pruned snapshot cannot be laid out by position and is dropped
