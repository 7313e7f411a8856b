"""The agent's own Prometheus metrics (instruments built from the metric catalogue), served on an optional port.

They bind to loopback unless told otherwise: 0.0.0.0 (``metrics_host``,
``ENVPARITY_METRICS_HOST``, ``--metrics-host``) lets Prometheus scrape a sidecar
from outside its pod.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import family, instrument

DEFAULT_METRICS_HOST = "127.0.0.1"


class _Losses(Collector):
    """Snapshots lost, by reason, as the spool counts them: the metric reads the one count, never keeps its own."""

    def __init__(self, losses: Callable[[], Mapping[str, int]]) -> None:
        self._losses = losses

    def collect(self) -> Iterable[Metric]:
        dropped = family("envparity_agent_snapshots_dropped_total", CounterMetricFamily)
        for reason, count in sorted(self._losses().items()):
            dropped.add_metric([reason], count)
        yield dropped


class AgentMetrics:
    """Counters of windows, snapshots, cleaned values, losses and failed probes, in a registry of the agent's own.

    ``losses`` returns the snapshots lost so far by reason (``Spool.losses``).
    """

    def __init__(self, losses: Callable[[], Mapping[str, int]]) -> None:
        self.registry = r = CollectorRegistry()
        self.windows = instrument(r, "envparity_agent_windows_sealed_total", Counter)
        self.sent = instrument(r, "envparity_agent_snapshots_sent_total", Counter)
        self.spooled = instrument(r, "envparity_agent_snapshots_spooled_total", Counter)
        r.register(_Losses(losses))
        self.cleaned = instrument(r, "envparity_agent_values_cleaned_total", Counter)
        self.masked = instrument(r, "envparity_agent_values_masked_total", Counter)
        self.push_seconds = instrument(
            r,
            "envparity_agent_push_duration_seconds",
            Histogram,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.spool_bytes = instrument(r, "envparity_agent_spool_bytes", Gauge)
        self.records = instrument(r, "envparity_agent_requests_recorded_total", Counter)
        self.shadow = instrument(r, "envparity_agent_shadow_requests_total", Counter)
        self.probe_failures = instrument(r, "envparity_agent_probe_failures_total", Counter)

    def serve(self, port: int, host: str = DEFAULT_METRICS_HOST) -> None:
        start_http_server(port, addr=host, registry=self.registry)
