"""Background jobs of the collector (APScheduler): parity evaluation and retention pruning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from envparity.collector.service import ParityService
from envparity.collector.store import Store

log = logging.getLogger("envparity.collector.retention")


def prune_once(store: Store, retention_days: float) -> dict[str, int]:
    """Delete what is older than the retention period; logs and returns the counts."""
    deleted = store.prune(datetime.now(UTC) - timedelta(days=retention_days))
    if any(deleted.values()):
        log.info("retention pruned %s", deleted)
    return deleted


def start_scheduler(
    store: Store,
    retention_days: float,
    parity: ParityService | None = None,
    evaluate_every_s: float = 60.0,
    prune_every_s: float = 3600.0,
) -> BackgroundScheduler:
    """Start the jobs: parity of every pair every ``evaluate_every_s``; retention at start, then hourly."""
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
            parity.evaluate_all,
            "interval",
            seconds=evaluate_every_s,
            id="parity",
            next_run_time=now + timedelta(seconds=min(5.0, evaluate_every_s)),
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    return scheduler
