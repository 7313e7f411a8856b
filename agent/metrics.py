"""The agent's own Prometheus metrics, served on an optional port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class AgentMetrics:
    """Counters of windows, snapshots and losses, in a registry of the agent's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.windows = Counter("envparity_agent_windows_sealed_total", "Windows sealed into snapshots.", registry=r)
        self.sent = Counter(
            "envparity_agent_snapshots_sent_total", "Snapshots acknowledged by the collector.", registry=r
        )
        self.spooled = Counter("envparity_agent_snapshots_spooled_total", "Snapshots written to the spool.", registry=r)
        self.dropped = Counter(
            "envparity_agent_snapshots_dropped_total",
            "Snapshots lost: dropped by the spool bound or dead-lettered.",
            ["reason"],
            registry=r,
        )
        self.push_seconds = Histogram(
            "envparity_agent_push_duration_seconds", "Duration of one push attempt.", ["result"], registry=r
        )
        self.spool_bytes = Gauge("envparity_agent_spool_bytes", "Bytes of snapshots waiting in the spool.", registry=r)
        self.records = Counter("envparity_agent_requests_recorded_total", "Requests recorded.", registry=r)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
