"""Shadow mirroring: a copy of a fraction of production requests sent to a staging service, same request id.

Copies leave after the client's request has been served (the middleware hands
them over once the response is done), run as background tasks on the serving
event loop, and are bounded in flight: beyond the bound a copy is dropped and
counted. Their answers and failures are counted, never raised, and never touch
the client's response or latency. The staging service's own agent records the
mirrored requests; the collector then compares both environments' predictions
and feature vectors per request id.
"""

from __future__ import annotations

import asyncio
import logging
import random

import httpx
from prometheus_client import Counter

log = logging.getLogger("envparity.agent.shadow")
_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


class ShadowMirror:
    """Sends copies of requests to ``url`` (the staging service's base URL)."""

    def __init__(
        self,
        url: str,
        fraction: float,
        max_in_flight: int = 64,
        timeout_s: float = 10.0,
        counter: Counter | None = None,
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("shadow fraction must be between 0 and 1")
        self.url, self.fraction, self.max_in_flight = url.rstrip("/"), fraction, max_in_flight
        self.timeout_s = timeout_s
        self.counts: dict[str, int] = {}
        self._counter = counter  # a prometheus Counter with a ``result`` label, when the agent exports metrics
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def wants(self) -> bool:
        return self.fraction > 0 and random.random() < self.fraction

    def count(self, result: str) -> None:
        self.counts[result] = self.counts.get(result, 0) + 1
        if self._counter is not None:
            self._counter.labels(result=result).inc()

    def mirror(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
        """Start sending one copy; returns at once."""
        if len(self._tasks) >= self.max_in_flight:
            self.count("dropped")
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        clean = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        task = asyncio.get_running_loop().create_task(self._send(self._client, method, url, clean, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> None:
        try:
            response = await client.request(method, url, headers=headers, content=body)
            self.count("ok" if response.status_code < 500 else "error")
        except httpx.HTTPError as exc:
            self.count("failed")
            log.debug("shadow copy to %s failed: %s", url, exc)

    async def aclose(self) -> None:
        """Wait for copies in flight (up to the timeout), then close the client."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.timeout_s)
        if self._client is not None:
            await self._client.aclose()
