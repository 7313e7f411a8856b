"""Background jobs of the collector (APScheduler): retention pruning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from envparity.collector.store import Store

log = logging.getLogger("envparity.collector.retention")


def prune_once(store: Store, retention_days: float) -> dict[str, int]:
    """Delete what is older than the retention period; logs and returns the counts."""
    deleted = store.prune(datetime.now(UTC) - timedelta(days=retention_days))
    if any(deleted.values()):
        log.info("retention pruned %s", deleted)
    return deleted


def start_scheduler(store: Store, retention_days: float, prune_every_s: float = 3600) -> BackgroundScheduler:
    """Start the background scheduler with the retention job (run once at start, then hourly)."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        prune_once,
        "interval",
        seconds=prune_every_s,
        args=[store, retention_days],
        id="retention",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
