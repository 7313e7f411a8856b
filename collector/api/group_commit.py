"""Group commit: the snapshots that arrive while a write is under way are written together, in one transaction.

Each ingest hands its prepared snapshot to ``GroupCommit.write`` and waits; the
first one starts a writer that takes everything pending (up to ``max_group``
snapshots), writes it on a worker thread in one transaction and answers each
waiter with its own outcome once the transaction has committed, then takes what
arrived meanwhile. Under load, groups grow by themselves and the commit's cost is
shared; alone, a snapshot is written at once, never held back waiting for
company. ``max_group=1`` writes every snapshot in a transaction of its own. The
queue is bounded by the ingest slots (``admission``), and everything here runs on
the event loop, one thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi.concurrency import run_in_threadpool

from envparity.collector.store import IngestResult
from envparity.collector.store.ingest import PreparedSnapshot

log = logging.getLogger("envparity.collector")
DEFAULT_MAX_GROUP = 32
Writer = Callable[[list[PreparedSnapshot]], list[IngestResult | Exception]]


class GroupCommit:
    """Writes concurrent snapshots in shared transactions; each caller gets its own outcome after the commit."""

    def __init__(self, write: Writer, max_group: int = DEFAULT_MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError(f"a group holds at least one snapshot, not {max_group}")
        self._write, self.max_group = write, max_group
        self._pending: list[tuple[PreparedSnapshot, asyncio.Future[IngestResult]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, item: PreparedSnapshot) -> IngestResult:
        """Store ``item`` with whatever else is pending; its outcome once committed (a refusal is raised)."""
        answer: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((item, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self.max_group]
                del self._pending[: self.max_group]
                await self._commit(group)
        finally:
            self._writer = None

    async def _commit(self, group: list[tuple[PreparedSnapshot, asyncio.Future[IngestResult]]]) -> None:
        try:
            outcomes = await run_in_threadpool(self._write, [item for item, _ in group])
        except Exception as exc:  # the writer answers per snapshot; this is a failure of the write itself
            log.exception("writing a group of %d snapshots failed", len(group))
            outcomes = [exc] * len(group)
        for (_, answer), outcome in zip(group, outcomes, strict=True):
            if answer.done():  # its caller went away; the snapshot is stored all the same
                continue
            if isinstance(outcome, Exception):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
