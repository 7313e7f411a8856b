"""Delivery of spooled snapshots to the collector: gzip over HTTP, backoff with jitter.

Outcomes per snapshot:

* 200: acknowledged, removed from the spool; the answer names the wire version
  the collector reads, and from 1.3 the agent seals its windows' samples in the
  column form (``collector_reads_columns``);
* 409 ``unknown_fingerprint``: the collector lacks the fingerprint a hash-only
  snapshot names; the full fingerprint is put back in and the snapshot resent;
* 408 / 429 / 502 / 503 / 504 / network failure: the collector is away or busy;
  retried with exponential backoff and full jitter, honouring ``Retry-After``;
  left in the spool when retries run out;
* any other 5xx: the collector failed on this snapshot; retried the same way, and
  each failure is counted in the spool. After ``max_attempts`` failures the
  snapshot is a suspect: it no longer holds up the later ones, and it moves to
  the dead-letter folder (reason ``server_error``) once it fails again while the
  collector takes a later snapshot in the same round. A collector that fails on
  everything (its database is down) dead-letters nothing;
* 401 / 403: the token is wrong, not the snapshot; delivery stops, nothing is lost;
* any other 4xx: the collector will never take it; moved to the dead-letter
  folder (reason ``refused``) with the collector's message, logged once.

The pusher never touches the spool's files: it walks ``Spool.pending()`` and
answers each entry. ``finish_by(deadline)`` bounds everything that follows (the
agent's close): no attempt starts, no request waits and no backoff sleeps past
the deadline, and a backoff under way that would overrun it ends at once.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from envparity.agent.spool import Spool, SpoolEntry
from envparity.agent.tracing import PushTracer
from envparity.agent.wire import COLUMNS_SINCE

log = logging.getLogger("envparity.agent.push")

Verdict = Literal["acked", "retry", "failed", "dead", "need_fingerprint", "unauthorized"]
MAX_RETRY_AFTER_S = 300.0
DEFAULT_MAX_ATTEMPTS = 5
_AWAY = frozenset({408, 429, 502, 503, 504})  # the collector is away or busy, whatever the snapshot


@dataclass
class SendResult:
    verdict: Verdict
    message: str = ""
    retry_after_s: float | None = None
    wire_version: str | None = None  # what the collector reads, as it answers a snapshot it took


@dataclass
class DeliveryReport:
    sent: int = 0
    duplicates: int = 0
    dead: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def delivered_all(self) -> bool:
        return self.remaining == 0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value else None
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]


def classify(response: httpx.Response) -> SendResult:
    """What a collector response means for the snapshot that was sent."""
    status = response.status_code
    if status == 200:
        answer = response.json()
        outcome = "duplicate" if answer.get("duplicate") else "stored"
        return SendResult(
            "acked", outcome, wire_version=str(answer["wire_version"]) if "wire_version" in answer else None
        )
    message = f"HTTP {status}: {_message(response)}"
    if status == 409 and "unknown_fingerprint" in response.text:
        return SendResult("need_fingerprint", message)
    if status in _AWAY:
        return SendResult("retry", message, _retry_after(response))
    if status >= 500:
        return SendResult("failed", message, _retry_after(response))
    if status in (401, 403):
        return SendResult("unauthorized", message)
    return SendResult("dead", message)


class Pusher:
    """Sends gzip snapshot bodies to one collector.

    ``attempts`` bounds the sends of one snapshot in one delivery round; ``max_attempts``
    the sends the collector may fail on (a 5xx, counted across rounds and restarts)
    before the snapshot is a suspect. ``sleep`` is how a backoff waits (tests pass a
    function that records it); by default a wait that ``finish_by`` cuts short.
    """

    def __init__(
        self,
        collector_url: str,
        token: str | None = None,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        tracer: PushTracer | None = None,
        verify: ssl.SSLContext | bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if attempts < 1 or max_attempts < 1:
            raise ValueError("attempts and max_attempts must be at least 1")
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=collector_url.rstrip("/"), headers=headers, timeout=timeout_s, verify=verify
        )
        self.timeout_s, self.attempts, self.max_attempts = timeout_s, attempts, max_attempts
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self._sleep = sleep or self._wait
        self._tracer = tracer or PushTracer(endpoint="")
        self._deadline: float | None = None
        self._deadline_set = threading.Condition()
        self.on_attempt: Callable[[SendResult, float], None] | None = None
        self.collector_wire: tuple[int, int] | None = None  # the wire version the collector last said it reads

    def close(self) -> None:
        self._client.close()

    @property
    def collector_reads_columns(self) -> bool:
        """Whether the collector has said it reads the column form of samples (wire 1.3)."""
        return self.collector_wire is not None and self.collector_wire >= COLUMNS_SINCE

    def finish_by(self, deadline: float) -> None:
        """From now on nothing outlasts ``deadline`` (a ``time.monotonic()`` value); see the module docstring."""
        with self._deadline_set:
            self._deadline = deadline
            self._deadline_set.notify_all()

    def _overruns(self, end: float) -> bool:
        return self._deadline is not None and end > self._deadline

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        with self._deadline_set:
            self._deadline_set.wait_for(lambda: self._overruns(end), seconds)

    def send(self, body_gz: bytes) -> SendResult:
        timeout = self.timeout_s if self._deadline is None else min(self.timeout_s, self._deadline - time.monotonic())
        if timeout <= 0:
            return SendResult("retry", "not sent: the close deadline passed")
        started = time.perf_counter()
        with self._tracer.span("envparity.push", **{"envparity.body_bytes": len(body_gz)}) as span:
            try:
                result = classify(self._client.post("/v1/snapshots", content=body_gz, timeout=timeout))
            except httpx.HTTPError as exc:
                result = SendResult("retry", f"{type(exc).__name__}: {exc}")
            if span is not None:
                span.set_attribute("envparity.verdict", result.verdict)
        if result.wire_version and (version := re.fullmatch(r"(\d+)\.(\d+)", result.wire_version)):
            self.collector_wire = (int(version.group(1)), int(version.group(2)))
        if self.on_attempt:
            self.on_attempt(result, time.perf_counter() - started)
        return result

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        jitter = random.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))
        return max(retry_after or 0.0, jitter)

    def _pause(self, seconds: float) -> bool:
        """Back off before the next attempt; False, at once, when that would overrun the deadline."""
        end = time.monotonic() + seconds
        if self._overruns(end):
            return False
        self._sleep(seconds)
        return not self._overruns(end)

    def deliver_one(self, spool: Spool, entry: SpoolEntry, attempts: int | None = None) -> SendResult:
        """Send one spooled snapshot, ``attempts`` times at most (default ``self.attempts``) as its outcome allows.

        Each failure of the collector on it is counted in the spool; sending stops at ``max_attempts`` of them.
        """
        result = SendResult("retry", "not sent")
        for attempt in range(attempts or self.attempts):
            if attempt and not self._pause(self._backoff(attempt - 1, result.retry_after_s)):
                break
            result = self.send(entry.body)
            if result.verdict == "need_fingerprint":
                full = spool.with_full_fingerprint(entry)
                if full is None:
                    return SendResult("dead", result.message + " (full fingerprint not in spool)")
                entry = full
                result = self.send(entry.body)
            if result.verdict == "failed":
                if spool.retry_later(entry, failed=True) >= self.max_attempts:
                    break
            elif result.verdict != "retry":
                break
        return result

    def deliver(self, spool: Spool) -> DeliveryReport:
        """Send the pending snapshots in sequence order, until one cannot go now; suspects do not hold up the rest."""
        report = DeliveryReport()
        # A suspect that failed again in this round, awaiting a later ack; while one waits, other suspects are
        # skipped, and a second snapshot the collector fails on ends the round.
        set_aside: tuple[SpoolEntry, str] | None = None
        for entry in spool.pending():
            suspect = entry.attempts >= self.max_attempts
            if suspect and set_aside is not None:
                continue
            result = self.deliver_one(spool, entry, 1 if suspect else None)
            failures = spool.retry_later(entry) if result.verdict in ("retry", "failed") else 0
            if result.verdict == "acked":
                spool.acknowledge(entry)
                report.sent += 1
                report.duplicates += result.message == "duplicate"
                if set_aside is not None:  # the collector takes others: that one fails on its own content
                    report.dead += spool.dead_letter(*set_aside, reason="server_error")
                set_aside = None
            elif result.verdict == "dead":
                report.dead += spool.dead_letter(entry, result.message)
            elif result.verdict == "failed" and failures >= self.max_attempts and set_aside is None:
                set_aside = (entry, f"{result.message} (the collector failed on it {failures} times)")
            else:
                report.errors.append(result.message)
                log.warning("collector did not take snapshot %d (%s); it stays spooled", entry.sequence, result.message)
                break
        report.remaining = spool.pending_count()
        return report
