"""The agent's own Prometheus metrics (instruments built from the metric catalogue), served on an optional port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

from envparity.agent.catalogue import spec


class AgentMetrics:
    """Counters of windows, snapshots and losses, in a registry of the agent's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.windows = spec("envparity_agent_windows_sealed_total").instrument(r)
        self.sent = spec("envparity_agent_snapshots_sent_total").instrument(r)
        self.spooled = spec("envparity_agent_snapshots_spooled_total").instrument(r)
        self.dropped = spec("envparity_agent_snapshots_dropped_total").instrument(r)
        self.push_seconds = spec("envparity_agent_push_duration_seconds").instrument(
            r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        )
        self.spool_bytes = spec("envparity_agent_spool_bytes").instrument(r)
        self.records = spec("envparity_agent_requests_recorded_total").instrument(r)
        self.shadow = spec("envparity_agent_shadow_requests_total").instrument(r)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
