"""Ingest routes: snapshots pushed by the agents, and outcomes posted directly.

The cost of a request is bounded before it is paid: the token is checked before
the body is read (any write scope; which pair it may write once the body names
it), and a slot among the ingests in flight is taken before the body is read
(429 with ``Retry-After`` when none is free) and held until the store write ends.
A snapshot's rows are prepared on a worker thread, then written with the snapshots
that arrived meanwhile (``group_commit``); the answer is sent once they are committed.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from envparity.agent.wire import NAME_PATTERN, WIRE_VERSION, Outcome, Snapshot
from envparity.collector.api.body import read_validated
from envparity.collector.api.deps import CollectorState, StateDep
from envparity.collector.api.docs import raw_body
from envparity.collector.api.errors import ApiError
from envparity.collector.auth import AuthError, TokenEntry
from envparity.collector.store import SequenceConflict, UnknownFingerprint
from envparity.collector.store.ingest import PreparedSnapshot, prepare

router = APIRouter()


class OutcomesBody(BaseModel):
    service: str = Field(pattern=NAME_PATTERN)
    environment: str = Field(pattern=NAME_PATTERN)
    outcomes: list[Outcome] = Field(min_length=1, max_length=100_000)


BODY_MODELS: tuple[type[BaseModel], ...] = (Snapshot, OutcomesBody)  # read raw, described in the OpenAPI


def _writer(request: Request, state: CollectorState) -> TokenEntry:
    return state.authorizer.writer(request.headers.get("authorization"))


@router.post("/v1/snapshots", openapi_extra=raw_body(Snapshot))
async def ingest_snapshot(request: Request, state: StateDep) -> dict[str, Any]:
    """Store a snapshot once (by agent and sequence), counting what was stored or refused."""
    started = time.perf_counter()
    try:
        writer = _writer(request, state)
        with state.ingests.slot():
            return await _ingest(request, state, writer)
    except (ApiError, AuthError) as exc:
        state.metrics.snapshots.labels(outcome=f"rejected_{exc.status}").inc()
        raise
    finally:
        state.metrics.ingest_seconds.observe(time.perf_counter() - started)


async def _ingest(request: Request, state: CollectorState, writer: TokenEntry) -> dict[str, Any]:
    snap, body = await read_validated(request, Snapshot, "snapshot", state.max_body_bytes)
    header = snap.header
    writer.require_write(header.service, header.environment)
    item = await run_in_threadpool(_prepare, snap, body)
    try:
        result = await state.writes.write(item)
    except (UnknownFingerprint, SequenceConflict) as exc:
        code = "unknown_fingerprint" if isinstance(exc, UnknownFingerprint) else "conflict"
        raise ApiError(409, str(exc), code=code) from None
    state.metrics.snapshots.labels(outcome="duplicate" if result.duplicate else "stored").inc()
    if not result.duplicate:
        state.traffic.add(snap, new_fingerprint=result.rows.get("fingerprints", 0) > 0)
    for table, count in result.rows.items():
        state.metrics.rows.labels(table=table).inc(count)
    return {
        "status": "ok",
        "duplicate": result.duplicate,
        "agent_id": header.agent_id,
        "sequence": header.sequence,
        "rows": result.rows,
        "wire_version": WIRE_VERSION,  # what this collector reads: an agent sends the column form to 1.3 and later
    }


def _prepare(snap: Snapshot, body: bytes) -> PreparedSnapshot:
    """The snapshot's rows as its tables take them, and its body's hash: the CPU work of an ingest, off the loop."""
    return prepare(snap, hashlib.sha256(body).hexdigest(), datetime.now(UTC))


@router.post("/v1/outcomes", openapi_extra=raw_body(OutcomesBody))
async def ingest_outcomes(request: Request, state: StateDep) -> dict[str, Any]:
    """Outcomes (labels) joined to stored predictions by request id."""
    writer = _writer(request, state)
    with state.ingests.slot():
        body, _ = await read_validated(request, OutcomesBody, "outcomes", state.max_body_bytes)
        writer.require_write(body.service, body.environment)
        stored = await run_in_threadpool(state.store.add_outcomes, body.service, body.environment, body.outcomes)
    state.metrics.rows.labels(table="outcomes").inc(stored)
    return {"status": "ok", "stored": stored}
