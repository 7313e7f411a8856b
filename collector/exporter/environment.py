"""Per-environment series on the collector's /metrics: traffic counted by the agents, agent freshness and losses.

Traffic (requests, errors by class, the exact latency histogram) is summed from
every stored snapshot since the collector started, so it behaves as Prometheus
counters do (``rate()`` handles the reset at a restart); an environment whose
agents have stored nothing for longer than the staleness period (``--stale-after``)
drops out of them, so that Prometheus marks its series stale. Freshness and losses
come from the store: the newest snapshot of every environment (kept, it is how a
silent environment shows), how many agents reported within the staleness period,
the snapshots the agents report they lost before delivery (by reason) and the
sequence numbers missing among those stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import family
from envparity.agent.wire import LATENCY_BUCKETS_S, Snapshot
from envparity.collector.exporter.gpu import DEFAULT_STALE_AFTER
from envparity.collector.store import Store
from envparity.collector.store.losses import agent_losses, environment_losses

log = logging.getLogger("envparity.collector")


@dataclass
class _Traffic:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    fingerprint_changes: int = 0
    last_stored: float = 0.0  # time.monotonic() of the environment's latest stored snapshot


class TrafficCollector(Collector):
    """Counters of the requests every environment's agents reported, fed by ingest; an environment that has
    stored nothing for longer than ``stale_after`` is left out until it reports again."""

    def __init__(self, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self._traffic: dict[tuple[str, str], _Traffic] = {}
        self._lock = threading.Lock()
        self.stale_after = stale_after

    def add(self, snap: Snapshot, new_fingerprint: bool) -> None:
        """Count a stored (not duplicate) snapshot."""
        key = (snap.header.service, snap.header.environment)
        req = snap.requests
        with self._lock:
            t = self._traffic.setdefault(key, _Traffic())
            t.last_stored = time.monotonic()
            t.fingerprint_changes += int(new_fingerprint)
            if req is None:
                return
            t.requests += req.requests
            for name, count in req.errors.items():
                t.errors[name] = t.errors.get(name, 0) + count
            if tuple(req.latency_bucket_bounds_s) != LATENCY_BUCKETS_S:
                log.warning("%s/%s sent latency buckets of its own; histogram not updated", *key)
                return
            t.buckets = [a + b for a, b in zip(t.buckets, req.latency_bucket_counts, strict=True)]
            t.latency_sum_s += req.latency_sum_s

    def collect(self) -> Iterable[Metric]:
        requests = family("envparity_requests_total", CounterMetricFamily)
        errors = family("envparity_request_errors_total", CounterMetricFamily)
        latency = family("envparity_request_duration_seconds", HistogramMetricFamily)
        changes = family("envparity_fingerprint_changes_total", CounterMetricFamily)
        bounds = [*(repr(float(b)) for b in LATENCY_BUCKETS_S), "+Inf"]
        stale_before = time.monotonic() - self.stale_after.total_seconds()
        with self._lock:
            for (service, environment), t in sorted(self._traffic.items()):
                if t.last_stored < stale_before:
                    continue
                labels = [service, environment]
                requests.add_metric(labels, t.requests)
                changes.add_metric(labels, t.fingerprint_changes)
                for name, count in sorted(t.errors.items()):
                    errors.add_metric([*labels, name], count)
                cumulative, running = [], 0
                for bound, count in zip(bounds, t.buckets, strict=True):
                    running += count
                    cumulative.append((bound, running))
                latency.add_metric(labels, cumulative, t.latency_sum_s)
        yield from (requests, errors, latency, changes)


class FreshnessCollector(Collector):
    """The newest snapshot of every environment, its reporting agents and their losses, read from the store."""

    def __init__(self, store: Store, fresh_within: timedelta = DEFAULT_STALE_AFTER) -> None:
        self.store, self.fresh_within = store, fresh_within

    def collect(self) -> Iterable[Metric]:
        last = family("envparity_environment_last_snapshot_timestamp_seconds", GaugeMetricFamily)
        agents = family("envparity_environment_agents", GaugeMetricFamily)
        since = datetime.now(UTC) - self.fresh_within
        for row in self.store.freshness(since):
            labels = [row["service"], row["environment"]]
            last.add_metric(labels, row["last_received"].timestamp())
            agents.add_metric(labels, row["fresh_agents"])
        yield from (last, agents, *self._losses())

    def _losses(self) -> tuple[Metric, Metric]:
        lost = family("envparity_environment_snapshots_lost_total", CounterMetricFamily)
        missing = family("envparity_environment_snapshots_missing", GaugeMetricFamily)
        with self.store.engine.connect() as conn:
            sums = environment_losses(agent_losses(conn))
        for (service, environment), env in sorted(sums.items()):
            missing.add_metric([service, environment], env.missing)
            for reason, count in sorted(env.lost.items()):
                lost.add_metric([service, environment, reason], count)
        return lost, missing
