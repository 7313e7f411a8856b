"""The collector's own Prometheus metrics: ingest outcomes, latency and rows stored (from the metric catalogue),
and its process's (resident memory, CPU time, open files)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

from envparity.agent.catalogue import instrument


class CollectorMetrics:
    """Metrics of one collector process, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, CPU seconds, open files
        self.snapshots = instrument(self.registry, "envparity_snapshots_ingested_total", Counter)
        self.ingest_seconds = instrument(self.registry, "envparity_ingest_duration_seconds", Histogram)
        self.rows = instrument(self.registry, "envparity_rows_stored_total", Counter)
