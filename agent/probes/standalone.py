"""Golden probes alone (``envparity agent probe``): every interval the inputs are asked and their answers spooled.

Each run becomes a snapshot of its own, carrying the probes' answers and no
fingerprint (the prober's host is not the model server's environment) and no
requests; the spool is delivered in the background as the agent's is, so a
collector that is away loses nothing.
"""

from __future__ import annotations

import logging
import time

from envparity.agent.jobs import Jobs
from envparity.agent.metrics import DEFAULT_METRICS_HOST, AgentMetrics
from envparity.agent.probes.prober import ProbeConfig, Prober
from envparity.agent.push import DeliveryReport
from envparity.agent.runner import open_pusher, open_spool, spool_snapshot
from envparity.agent.settings import AgentSettings
from envparity.agent.wire import utcnow

log = logging.getLogger("envparity.agent.probes")

DELIVERY_EVERY_S = 5.0


class ProbeAgent:
    """Asks the golden inputs every ``config.every_s`` seconds and delivers each run's snapshot."""

    def __init__(
        self,
        settings: AgentSettings,
        config: ProbeConfig,
        metrics_port: int | None = None,
        metrics_host: str = DEFAULT_METRICS_HOST,
    ) -> None:
        self.settings = settings
        self.spool = open_spool(settings)
        self.pusher = open_pusher(settings)
        self.metrics = AgentMetrics(losses=self.spool.losses)
        self.prober = Prober(config, on_failure=lambda reason: self.metrics.probe_failures.labels(reason=reason).inc())
        if metrics_port is not None:
            self.metrics.serve(metrics_port, metrics_host)
        self._jobs = Jobs()
        self._jobs.every(config.every_s, self.probe, "probe", now=True)
        self._jobs.every(DELIVERY_EVERY_S, self.deliver, "deliver", now=True)
        self._jobs.start()

    @property
    def agent_id(self) -> str:
        return self.spool.state.agent_id

    def probe(self) -> int:
        """Ask every input once and spool the answers; returns the snapshot's sequence."""
        started = utcnow()
        self.prober.run()
        sequence = spool_snapshot(self.settings, self.spool, window_start=started, probes=self.prober.take())
        self.metrics.spooled.inc()
        self.metrics.spool_bytes.set(self.spool.pending_bytes())
        return sequence

    def deliver(self) -> DeliveryReport:
        report = self.pusher.deliver(self.spool)
        self.metrics.sent.inc(report.sent)
        self.metrics.spool_bytes.set(self.spool.pending_bytes())
        return report

    def close(self, timeout: float = 30.0) -> bool:
        """Stop probing and deliver what is spooled within ``timeout`` seconds; True when nothing is left."""
        deadline = time.monotonic() + timeout
        self.pusher.finish_by(deadline)
        try:
            idle = self._jobs.stop(deadline)
            return idle and self.deliver().delivered_all
        finally:
            self.prober.close()
            self.pusher.close()
            self.spool.close()
