"""The collector's own Prometheus metrics: ingest outcomes, latency and rows stored."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class CollectorMetrics:
    """Metrics of one collector process, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.snapshots = Counter(
            "envparity_snapshots_ingested_total",
            "Snapshots received, by outcome (stored, duplicate, or the refusal reason).",
            ["outcome"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "envparity_ingest_duration_seconds",
            "Time to decode, validate and store one snapshot.",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.rows = Counter(
            "envparity_rows_stored_total",
            "Rows written to the store, by table.",
            ["table"],
            registry=self.registry,
        )
