"""Background jobs of the collector (APScheduler): parity evaluation and retention pruning.

Replicas on one PostgreSQL database run their cycles at the same instants (aligned
to multiples of the cycle's length) and split each cycle's services by claiming
them (``store.leases``); retention runs on every replica, serialised by the schema lock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from envparity.collector import heap
from envparity.collector.service import ParityService
from envparity.collector.store import Store
from envparity.collector.store.leases import Leases

log = logging.getLogger("envparity.collector.retention")


def prune_once(store: Store, retention_days: float) -> dict[str, int]:
    """Delete what is older than the retention period; logs and returns the counts."""
    deleted = store.prune(datetime.now(UTC) - timedelta(days=retention_days))
    if any(deleted.values()):
        log.info("retention pruned %s", deleted)
    heap.trim()
    return deleted


def evaluate_cycle(parity: ParityService, leases: Leases) -> None:
    """One scheduled evaluation of every pair; then the arrays it freed go back to the system (``heap.trim``)."""
    try:
        parity.evaluate_all(leases)
    finally:
        heap.trim()


def cycle_start(now: datetime, every_s: float) -> datetime:
    """The start of the current cycle plus a margin: every replica runs its cycles at the same instants, just
    after the boundary, so that they share each cycle's services and agree on its number (``leases``)."""
    margin = min(1.0, every_s / 10)
    return datetime.fromtimestamp(now.timestamp() // every_s * every_s + margin, UTC)


def start_scheduler(
    store: Store,
    retention_days: float,
    parity: ParityService | None = None,
    evaluate_every_s: float = 60.0,
    prune_every_s: float = 3600.0,
) -> BackgroundScheduler:
    """Start the jobs: parity of every pair every ``evaluate_every_s`` (the first within 5 s, then at the
    cycle boundaries, claiming each service for the cycle among replicas); retention at start, then hourly."""
    scheduler = BackgroundScheduler(timezone=UTC)
    now = datetime.now(UTC)
    scheduler.add_job(
        prune_once,
        "interval",
        seconds=prune_every_s,
        args=[store, retention_days],
        id="retention",
        next_run_time=now,
        max_instances=1,
        coalesce=True,
    )
    if parity is not None and evaluate_every_s > 0:
        scheduler.add_job(
            evaluate_cycle,
            IntervalTrigger(seconds=evaluate_every_s, start_date=cycle_start(now, evaluate_every_s)),
            args=[parity, Leases(store.engine, evaluate_every_s)],
            id="parity",
            next_run_time=now + timedelta(seconds=min(5.0, evaluate_every_s)),
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    return scheduler
