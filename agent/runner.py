"""One agent run: fingerprint, spool a snapshot, deliver everything pending."""

from __future__ import annotations

import logging
from datetime import datetime

from envparity.agent.fingerprint import take_fingerprint
from envparity.agent.push import DeliveryReport, Pusher
from envparity.agent.settings import AgentSettings
from envparity.agent.snapshot import build_snapshot
from envparity.agent.spool import Spool
from envparity.agent.wire import utcnow

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


def spool_fingerprint_snapshot(settings: AgentSettings, spool: Spool, window_start: datetime | None = None) -> int:
    """Fingerprint this environment and write one snapshot to the spool; returns its sequence."""
    fingerprint = take_fingerprint(settings.sources)
    spool.save_fingerprint(fingerprint.hash, fingerprint.model_dump_json().encode())
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
        )
        return snap.model_dump_json().encode()

    return spool.put_next(snapshot_json)


def run_once(settings: AgentSettings) -> DeliveryReport:
    """Spool a fingerprint snapshot, then deliver every pending one in sequence order."""
    spool = open_spool(settings)
    pusher = open_pusher(settings)
    try:
        sequence = spool_fingerprint_snapshot(settings, spool)
        log.info("agent %s spooled snapshot %d", spool.state.agent_id, sequence)
        return pusher.deliver(spool)
    finally:
        pusher.close()
        spool.close()
