"""Backpressure on ingest: at most N requests that write in flight; beyond that 429 with ``Retry-After``.

An ingest holds a slot from the moment its token is accepted until its store
write returns (its group has committed), so the bodies held in memory and the
snapshots waiting for a group are bounded together. Agents honour
``Retry-After`` and keep the snapshot spooled meanwhile. The slots are counted
on the event loop, which is one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from envparity.collector.api.errors import ApiError

RETRY_AFTER_S = 1  # an ingest takes milliseconds; agents wait at least this, longer as their backoff grows
DEFAULT_MAX_INFLIGHT = 64  # a waiting ingest holds its body and no thread (group commit writes on one at a time)


class IngestSlots:
    """A counter of ingests in flight with a bound."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one ingest must be allowed in flight, not {limit}")
        self.limit = limit
        self.busy = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block, or raise 429 when every slot is held."""
        if self.busy >= self.limit:
            raise ApiError(
                429,
                f"{self.limit} ingests in flight; retry after {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
