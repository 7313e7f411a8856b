"""One agent run: fingerprint (or golden probes alone), spool a snapshot, deliver everything pending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from envparity.agent.fingerprint import take_fingerprint
from envparity.agent.probes.prober import ProbeConfig, Prober
from envparity.agent.push import DeliveryReport, Pusher
from envparity.agent.settings import AgentSettings
from envparity.agent.snapshot import build_snapshot
from envparity.agent.spool import Spool
from envparity.agent.wire import Fingerprint, ProbeSection, utcnow

log = logging.getLogger("envparity.agent")


def open_spool(settings: AgentSettings) -> Spool:
    return Spool(settings.spool_path, settings.agent_id, settings.spool_max_bytes)


def open_pusher(settings: AgentSettings) -> Pusher:
    return Pusher(
        settings.collector,
        settings.token,
        settings.push_timeout_s,
        settings.push_attempts,
        verify=settings.tls_verify(),
        max_attempts=settings.max_attempts,
    )


def spool_snapshot(
    settings: AgentSettings,
    spool: Spool,
    *,
    fingerprint: Fingerprint | None = None,
    window_start: datetime | None = None,
    probes: ProbeSection | None = None,
) -> int:
    """Spool one snapshot of the window from ``window_start`` (default: now) to now; returns its sequence."""
    now = utcnow()

    def snapshot_json(sequence: int) -> bytes:
        snap = build_snapshot(
            agent_id=spool.state.agent_id,
            sequence=sequence,
            service=settings.service,
            environment=settings.environment,
            window_start=window_start or now,
            window_end=now,
            fingerprint=fingerprint,
            acked_fingerprint=spool.state.acked_fingerprint,
            snapshots_lost=spool.losses(),
            probes=probes,
        )
        return snap.model_dump_json().encode()

    return spool.put_next(snapshot_json)


def spool_fingerprint_snapshot(
    settings: AgentSettings, spool: Spool, window_start: datetime | None = None, probes: ProbeSection | None = None
) -> int:
    """Fingerprint this environment and write one snapshot to the spool; returns its sequence."""
    fingerprint = take_fingerprint(settings.sources)
    spool.save_fingerprint(fingerprint.hash, fingerprint.model_dump_json().encode())
    return spool_snapshot(settings, spool, fingerprint=fingerprint, window_start=window_start, probes=probes)


def probe_once(config: ProbeConfig) -> ProbeSection | None:
    """Every golden input asked once: the section a snapshot carries (None when nothing was asked)."""
    prober = Prober(config)
    try:
        prober.run()
        return prober.take()
    finally:
        prober.close()


def run_once(settings: AgentSettings, probes: ProbeConfig | None = None) -> DeliveryReport:
    """Spool a fingerprint snapshot (with the golden probes' answers, given ``probes``), then deliver all pending."""
    section = probe_once(probes) if probes is not None else None
    return _spool_and_deliver(settings, lambda spool: spool_fingerprint_snapshot(settings, spool, probes=section))


def run_probes_once(settings: AgentSettings, probes: ProbeConfig) -> DeliveryReport:
    """Ask the golden inputs once and spool their answers alone (no fingerprint), then deliver every pending one."""
    started = utcnow()
    section = probe_once(probes)
    return _spool_and_deliver(
        settings, lambda spool: spool_snapshot(settings, spool, window_start=started, probes=section)
    )


def _spool_and_deliver(settings: AgentSettings, spool_one: Callable[[Spool], int]) -> DeliveryReport:
    spool = open_spool(settings)
    pusher = open_pusher(settings)
    try:
        sequence = spool_one(spool)
        log.info("agent %s spooled snapshot %d", spool.state.agent_id, sequence)
        return pusher.deliver(spool)
    finally:
        pusher.close()
        spool.close()
