"""The store's memory on the collector's /metrics: what DuckDB's buffer manager holds and its limit.

With the process's own resident memory (``process_resident_memory_bytes``) it tells
an SRE whether a growing collector is DuckDB caching the database, bounded by
``--duckdb-memory-limit``, or the process itself. Nothing is exported on PostgreSQL,
whose memory is the server's.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import family
from envparity.collector.store import Store


class StoreMemoryCollector(Collector):
    """DuckDB's memory in use and its limit, read at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        if self.store.memory_limit is None:
            return
        used = family("envparity_store_memory_bytes", GaugeMetricFamily)
        limit = family("envparity_store_memory_limit_bytes", GaugeMetricFamily)
        used.add_metric([], self.store.memory_used() or 0)
        limit.add_metric([], self.store.memory_limit)
        yield from (used, limit)
