"""Store: schema versioning and retention, on both backends."""

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
