"""The collector's own Prometheus metrics: ingest outcomes, latency and rows stored (from the metric catalogue)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from envparity.agent.catalogue import spec


class CollectorMetrics:
    """Metrics of one collector process, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.snapshots = spec("envparity_snapshots_ingested_total").instrument(self.registry)
        self.ingest_seconds = spec("envparity_ingest_duration_seconds").instrument(self.registry)
        self.rows = spec("envparity_rows_stored_total").instrument(self.registry)
