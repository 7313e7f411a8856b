"""A memory soak of a real collector: agents pushing snapshots while the scheduled evaluation runs, RSS sampled.

Shared by ``benchmarks/soak.py`` (50 agents, minutes) and
``tests/integration/test_soak.py`` (10 agents, about a minute). The collector is a
process of its own on a DuckDB file; each simulated agent is a thread with an
HTTP client that posts a gzip snapshot of its latest window (500 samples x 20
features by default, timestamps of now, so that the evaluation's window holds
them) every ``period_s`` seconds, with its own ``agent_id`` and an increasing
``sequence``. Agents are spread over the environments of one service, so the
evaluation has pairs to compare. A 429 is waited out (``Retry-After``) and the
snapshot sent again, as an agent does; so is a connection the collector closed as
the post went out (an agent retries those with backoff), counted in
``transport_retries``, up to ``TRANSPORT_ATTEMPTS`` attempts. The collector's resident memory (its
process and any children, ``VmRSS`` of ``/proc/PID/status``) is sampled every
``sample_every_s`` seconds, with what DuckDB's buffer manager holds of it (the
collector's ``envparity_store_memory_bytes``), so that the curve of the rest, the
process's own memory, can be told from DuckDB caching the growing database up to
its limit.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from helpers import base_fingerprint, envparity_cmd

from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Sample
from envparity.collector.store.resources import memory_limit_bytes
from envparity.localservers import free_port, wait_for_http

HEADERS = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
ENVIRONMENTS = ("production", "staging", "canary")
SERVICE = "soak"
TRANSPORT_ATTEMPTS = 4  # as the agent's Pusher: a transport error is retried with backoff
# The collector's memory is DuckDB's (its buffer manager caches the database and holds what a query reads, up to
# --duckdb-memory-limit) plus the process's own: Python, the HTTP service, an evaluation's arrays (at most about
# --max-samples per environment) and the C heap. The ceiling of a soak is the one plus a budget for the other.
PROCESS_BUDGET_MIB = 768


def ceiling_mib(duckdb_memory_limit: str | None) -> float:
    """DuckDB's memory limit (the collector's default when None) plus the process's own budget, MiB."""
    return memory_limit_bytes(duckdb_memory_limit) / (1 << 20) + PROCESS_BUDGET_MIB


@contextlib.contextmanager
def collector(workdir: Path, evaluate_every_s: float, *args: str) -> Iterator[tuple[str, int]]:
    """A collector process on ``workdir/soak.duckdb``; yields its base URL and process id."""
    port = free_port()
    log = workdir / "collector.log"
    command = envparity_cmd("collector", "serve", "--db", str(workdir / "soak.duckdb"), "--port", str(port))
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--evaluate-every", str(evaluate_every_s), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"},
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout_s=120, proc=proc)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of the process and its descendants, MiB (``VmRSS``)."""
    total_kib = 0
    for each in _descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def snapshot_body(
    agent: int, sequence: int, window_start: datetime, window_end: datetime, samples: int, features: int
) -> bytes:
    """The gzip JSON of one agent's window: ``samples`` samples of ``features`` numeric features."""
    rng = np.random.default_rng([agent, sequence])
    values = rng.normal(size=(samples, features)).round(6).tolist()
    latency = rng.uniform(0.005, 0.05, samples).round(6).tolist()
    step = (window_end - window_start) / samples
    fingerprint = base_fingerprint()
    snap = build_snapshot(
        agent_id=f"{SERVICE}-agent-{agent}",
        sequence=sequence,
        service=SERVICE,
        environment=ENVIRONMENTS[agent % len(ENVIRONMENTS)],
        window_start=window_start,
        window_end=window_end,
        fingerprint=fingerprint,
        acked_fingerprint=fingerprint.hash if sequence else None,
        samples=[
            Sample(
                request_id=f"a{agent}-{sequence}-{i}",
                ts=window_start + step * i,
                features={f"f{j}": row[j] for j in range(features)},
                prediction=float(row[0] > 0),
                confidence=0.9,
                latency_s=latency[i],
            )
            for i, row in enumerate(values)
        ],
    )
    return gzip.compress(snap.model_dump_json().encode(), compresslevel=6)


@dataclass
class SoakResult:
    """What the agents saw and the collector's RSS curve: ``(seconds since start, MiB)`` pairs."""

    curve: list[tuple[float, float]] = field(default_factory=list)
    store_mib: list[float] = field(default_factory=list)  # DuckDB's share of each point of the curve
    sent: int = 0
    acked: int = 0
    refused: int = 0
    transport_retries: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def peak_mib(self) -> float:
        return max(mib for _, mib in self.curve)

    @property
    def process_curve(self) -> list[tuple[float, float]]:
        """The RSS less DuckDB's buffer memory: the process's own."""
        return [(t, mib - store) for (t, mib), store in zip(self.curve, self.store_mib, strict=True)]

    @staticmethod
    def late_slope_mib_per_min(curve: list[tuple[float, float]]) -> float:
        """Least-squares slope of a curve over the last half of the run, MiB per minute."""
        late = curve[len(curve) // 2 :]
        if len(late) < 2:
            return float("nan")
        t, mib = np.array(late).T
        return float(np.polyfit(t / 60, mib, 1)[0])

    def summary(self) -> str:
        rest = self.process_curve
        return (
            f"RSS start {self.curve[0][1]:.0f} MiB, max {self.peak_mib:.0f} MiB, end {self.curve[-1][1]:.0f} MiB, "
            f"last-half slope {self.late_slope_mib_per_min(self.curve):+.1f} MiB/min; of it DuckDB's buffers "
            f"max {max(self.store_mib):.0f} MiB, the rest start {rest[0][1]:.0f}, max {max(m for _, m in rest):.0f}, "
            f"end {rest[-1][1]:.0f} MiB, last-half slope {self.late_slope_mib_per_min(rest):+.1f} MiB/min; "
            f"{self.acked}/{self.sent} snapshots acknowledged, {self.refused} refused (429, retried), "
            f"{self.transport_retries} transport errors retried, {len(self.failures)} failures"
        )


def _deliver(client: httpx.Client, url: str, body: bytes, result: SoakResult) -> None:
    """Post until the collector answers other than 429; record an acknowledgement or a failure."""
    transport_errors = 0
    while True:
        try:
            response = client.post(f"{url}/v1/snapshots", content=body)
        except httpx.TransportError as exc:
            transport_errors += 1
            if transport_errors == TRANSPORT_ATTEMPTS:
                with result.lock:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                return
            with result.lock:
                result.transport_retries += 1
            time.sleep(0.5 * 2**transport_errors)
            continue
        if response.status_code != 429:
            break
        with result.lock:
            result.refused += 1
        time.sleep(float(response.headers.get("Retry-After", "1")))
    with result.lock:
        if response.status_code == 200:
            result.acked += 1
        else:
            result.failures.append(f"{response.status_code} {response.text[:200]}")


def store_mib(url: str) -> float:
    """DuckDB's buffer memory as the collector exports it, MiB (0 when it cannot be read)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=30).text
    except httpx.HTTPError:
        return 0.0
    line = next((x for x in text.splitlines() if x.startswith("envparity_store_memory_bytes ")), "")
    return float(line.split()[1]) / (1 << 20) if line else 0.0


def soak(
    url: str,
    pid: int,
    agents: int,
    seconds: float,
    period_s: float = 3.0,
    samples: int = 500,
    features: int = 20,
    sample_every_s: float = 5.0,
    progress: bool = False,
) -> SoakResult:
    """``agents`` agents push a window every ``period_s`` for ``seconds``; the collector's RSS is sampled meanwhile."""
    result = SoakResult()
    stop = threading.Event()
    started = time.monotonic()

    def agent(number: int) -> None:
        stop.wait(period_s * number / agents)  # spread the agents over a period
        window_start = datetime.now(UTC) - timedelta(seconds=period_s)
        with httpx.Client(headers=HEADERS, timeout=300) as client:
            sequence = 0
            while not stop.is_set():
                window_end = datetime.now(UTC)
                body = snapshot_body(number, sequence, window_start, window_end, samples, features)
                with result.lock:
                    result.sent += 1
                _deliver(client, url, body, result)
                window_start, sequence = window_end, sequence + 1
                stop.wait(period_s)

    threads = [threading.Thread(target=agent, args=(n,), daemon=True) for n in range(agents)]
    for thread in threads:
        thread.start()
    while True:
        elapsed = time.monotonic() - started
        result.curve.append((elapsed, rss_mib(pid)))
        result.store_mib.append(store_mib(url))
        if progress:
            print(
                f"  {elapsed:6.0f} s  RSS {result.curve[-1][1]:7.0f} MiB (DuckDB {result.store_mib[-1]:5.0f})  "
                f"acked {result.acked}",
                flush=True,
            )
        if elapsed >= seconds:
            break
        time.sleep(min(sample_every_s, seconds - elapsed))
    stop.set()
    for thread in threads:
        thread.join()
    result.curve.append((time.monotonic() - started, rss_mib(pid)))
    result.store_mib.append(store_mib(url))
    return result
