"""Load for the ingest benchmarks: pre-built snapshot bodies, collector processes, and agents pushing over HTTP.

A body is what an agent's spool holds: the gzip JSON of one window, 20 numeric
features per sample, in the row form (``samples``, a list of samples) or the
column form of wire 1.3 (``columns``, a list per field). Bodies are built before
the clock starts, so that the figures measure the collector. Pushing agents are
threads with an HTTP client each that honour ``Retry-After`` as agents do.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Fingerprint
from envparity.localservers import free_port, wait_for_http

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
HEADERS = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Agent:
    """Who an agent is and where its windows start."""

    number: int
    service: str = "bench"
    environment: str = ""  # empty: production, staging or canary by the agent's number
    start: datetime = START

    @property
    def env(self) -> str:
        return self.environment or ("production", "staging", "canary")[self.number % 3]


@functools.cache
def _fingerprint() -> Fingerprint:
    return take_fingerprint(FingerprintSources(env_prefixes=("ENVPARITY_BENCH_",)))


def _samples(rng: np.random.Generator, agent: int, window: datetime, n: int, features: int, columns: bool) -> dict:
    """The samples of one window in the row or the column form."""
    values = rng.normal(size=(features, n)).round(6)
    seq = int((window - START).total_seconds() // 60)
    ts = [_iso(window + timedelta(milliseconds=i * 60_000 // n)) for i in range(n)]
    ids = [f"a{agent}-{seq}-{i}" for i in range(n)]
    prediction = (values[0] > 0).astype(float).tolist()
    latency = rng.uniform(0.005, 0.05, n).round(6).tolist()
    if columns:
        feats = {f"f{j}": values[j].tolist() for j in range(features)}
        return {
            "columns": {
                "ts": ts,
                "request_id": ids,
                "features": feats,
                "prediction": prediction,
                "confidence": [0.9] * n,
                "latency_s": latency,
            }
        }
    rows = values.T.tolist()
    names = [f"f{j}" for j in range(features)]
    return {
        "samples": [
            {
                "request_id": ids[i],
                "ts": ts[i],
                "features": dict(zip(names, rows[i], strict=True)),
                "prediction": prediction[i],
                "confidence": 0.9,
                "latency_s": latency[i],
            }
            for i in range(n)
        ]
    }


def agent_bodies(
    agent: int | Agent, count: int, samples: int, features: int = 20, columns: bool = False, service: str = "bench"
) -> list[bytes]:
    """``count`` consecutive windows of one agent, gzip JSON; the first carries the full fingerprint."""
    who = agent if isinstance(agent, Agent) else Agent(agent, service)
    rng = np.random.default_rng(who.number)
    fingerprint = _fingerprint()
    bodies = []
    for seq in range(count):
        window = who.start + timedelta(minutes=seq)
        snap = build_snapshot(
            agent_id=f"{who.service}-agent-{who.number}",
            sequence=seq,
            service=who.service,
            environment=who.env,
            window_start=window,
            window_end=window + timedelta(minutes=1),
            fingerprint=fingerprint,
            acked_fingerprint=fingerprint.hash if seq else None,
        )
        data = {
            **snap.model_dump(mode="json"),
            **_samples(rng, who.number, window, samples, features, columns),
        }
        bodies.append(gzip.compress(json.dumps(data).encode(), compresslevel=6))
    return bodies


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time the processes have used so far (user and system)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def collector(store_url: str, log: Path, *args: str, pids: list[int] | None = None) -> Iterator[str]:
    """A collector process on a free loopback port; yields its base URL (its process id added to ``pids``)."""
    port = free_port()
    with log.open("ab") as out:
        command = [sys.executable, "-m", "envparity", "collector", "serve", "--database-url", store_url]
        proc = subprocess.Popen(
            [*command, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"},
        )
    if pids is not None:
        pids.append(proc.pid)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ready", timeout_s=120, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


@dataclass
class Pushed:
    """What the agents saw: per-attempt latencies of stored snapshots, refusals (429) and failures."""

    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


def deliver(client: httpx.Client, url: str, body: bytes, pushed: Pushed) -> None:
    """Post one body until the collector takes it, waiting ``Retry-After`` after a 429, as an agent does."""
    while True:
        started = time.perf_counter()
        response = client.post(f"{url}/v1/snapshots", content=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 429:
            break
        with pushed.lock:
            pushed.refused += 1
        time.sleep(float(response.headers.get("Retry-After", "1")))
    with pushed.lock:
        if response.status_code != 200:
            pushed.failures.append(f"{response.status_code} {response.text[:200]}")
        else:
            pushed.latencies.append(elapsed)
            pushed.duplicates += bool(response.json()["duplicate"])


def push_all(urls: list[str], bodies: list[list[bytes]]) -> tuple[float, Pushed]:
    """Every agent (a list of bodies each) pushes its bodies back to back; the seconds until all are stored."""
    pushed = Pushed()

    def agent(index: int, own: list[bytes]) -> None:
        url = urls[index % len(urls)]
        with httpx.Client(headers=HEADERS, timeout=300) as client:
            for body in own:
                deliver(client, url, body, pushed)

    threads = [threading.Thread(target=agent, args=(i, own)) for i, own in enumerate(bodies)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, pushed


def stored_rows(url: str) -> dict[str, int]:
    """The collector's row counts per table."""
    rows: dict[str, int] = httpx.get(f"{url}/v1/store", timeout=120).json()["rows"]
    return rows
