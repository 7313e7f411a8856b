"""The agent's background jobs: interval jobs on an APScheduler thread pool, and a stop bounded by a deadline.

Each job runs at a fixed interval, one run at a time (a late run is coalesced,
never queued); what a job raises is logged by APScheduler and never reaches the
application. ``stop(deadline)`` stops scheduling and waits for the runs in
progress to end, until the deadline at most; a run that was due but had not
begun by then is skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler


class Jobs:
    """Interval jobs on a background scheduler, counting the runs in progress so that a stop can wait for them."""

    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._idle = threading.Condition()
        self._running = 0
        self._stopped = False

    def every(self, seconds: float, job: Callable[[], object], name: str, *, now: bool = False) -> None:
        """Run ``job`` every ``seconds``: the first time at once when ``now``, else after one interval."""
        first = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(
            self._tracked(job),
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            **first,
        )

    def _tracked(self, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with self._idle:
                if self._stopped:
                    return
                self._running += 1
            try:
                job()
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

        return run

    def start(self) -> None:
        self._scheduler.start()

    def stop(self, deadline: float) -> bool:
        """Stop scheduling and wait until ``deadline`` (``time.monotonic()``) at most; True when no run is left."""
        with self._idle:
            self._stopped = True
        self._scheduler.shutdown(wait=False)
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, max(0.0, deadline - time.monotonic()))
