"""Backpressure over real concurrent HTTP: a collector with one ingest slot answers 429 with Retry-After.

The store is made slow for real: on PostgreSQL a lock on the snapshots table held
by the test, on DuckDB many concurrent 2,000-sample snapshots. Every snapshot is
stored in the end by clients that retry as agents do.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from helpers import make_snapshot

from envparity.agent.wire import Sample, Snapshot


def _body(snap: Snapshot) -> bytes:
    return gzip.compress(snap.model_dump_json().encode())


async def _post(client: httpx.AsyncClient, url: str, body: bytes) -> httpx.Response:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return await client.post(f"{url}/v1/snapshots", content=body, headers=headers)


async def _deliver(client: httpx.AsyncClient, url: str, body: bytes, refusals: list[httpx.Response]) -> None:
    """Post until stored, waiting Retry-After after each 429 (what the agent does)."""
    deadline = time.monotonic() + 120
    while (response := await _post(client, url, body)).status_code == 429:
        refusals.append(response)
        assert time.monotonic() < deadline, "never admitted"
        await asyncio.sleep(float(response.headers["Retry-After"]))
    assert response.status_code == 200, response.text


def _check_refusals(refusals: list[httpx.Response]) -> None:
    assert refusals, "no request was refused"
    for response in refusals:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "1 ingests in flight; retry after 1 s"


def _stored(store_url: str) -> int:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM snapshots")).scalar_one()
    finally:
        engine.dispose()


def test_a_locked_store_fills_the_slot_and_the_rest_wait(start_collector, pg_database):
    collector = start_collector(pg_database, "--max-inflight-ingests", "1", "--evaluate-every", "0")
    bodies = [_body(make_snapshot(agent_id=f"agent-{i}")) for i in range(6)]
    engine = sa.create_engine(pg_database)

    async def scenario() -> int:
        refusals: list[httpx.Response] = []
        async with httpx.AsyncClient(timeout=120) as client:
            with engine.connect() as conn:
                conn.execute(sa.text("LOCK TABLE snapshots IN ACCESS EXCLUSIVE MODE"))  # until the rollback
                first = [asyncio.create_task(_post(client, collector.url, body)) for body in bodies]
                deadline = time.monotonic() + 60
                while sum(t.done() for t in first) < len(bodies) - 1:  # one holds the slot, waiting on the lock
                    assert time.monotonic() < deadline, "the others were not refused"
                    await asyncio.sleep(0.05)
                answered = [t.result() for t in first if t.done()]
                assert [r.status_code for r in answered] == [429] * (len(bodies) - 1)
                refusals += answered
                conn.rollback()
            retried = [body for body, t in zip(bodies, first, strict=True) if t.done()]
            assert (await next(t for t in first if not t.done())).status_code == 200
            await asyncio.gather(*(_deliver(client, collector.url, body, refusals) for body in retried))
        _check_refusals(refusals)
        return len(refusals)

    try:
        refused = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert _stored(pg_database) == len(bodies)
    metrics = httpx.get(f"{collector.url}/metrics").text
    assert f'envparity_snapshots_ingested_total{{outcome="rejected_429"}} {refused}.0' in metrics


def _large(agent: int) -> Snapshot:
    snap = make_snapshot(agent_id=f"agent-{agent}")
    start = snap.header.window_start
    snap.samples = [
        Sample(ts=start + timedelta(milliseconds=i), request_id=f"{agent}-{i}", features={"x": i * 0.5, "k": "a"})
        for i in range(2000)
    ]
    return snap


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_many_large_snapshots_at_once_are_all_stored_after_retries(start_collector, store_url):
    collector = start_collector(store_url, "--max-inflight-ingests", "1", "--evaluate-every", "0")
    bodies = [_body(_large(i)) for i in range(8)]

    async def scenario() -> None:
        refusals: list[httpx.Response] = []
        async with httpx.AsyncClient(timeout=120) as client:
            await asyncio.gather(*(_deliver(client, collector.url, body, refusals) for body in bodies))
        _check_refusals(refusals)

    asyncio.run(scenario())
    rows = httpx.get(f"{collector.url}/v1/store").json()["rows"]
    assert rows["snapshots"] == len(bodies) and rows["samples"] == 2000 * len(bodies)
