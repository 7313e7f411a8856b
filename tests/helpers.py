"""Helpers for tests: ports, the command line, snapshots built through the wire models, agents driven by hand."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from envparity.agent import Agent
from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Fingerprint, Outcome, RequestAggregates, Sample, Snapshot
from envparity.localservers import free_port, wait_for_http  # noqa: F401 (re-exported for tests)

REPO = Path(__file__).resolve().parents[1]
SOURCES = FingerprintSources(env_prefixes=("ENVPARITY_TEST_",))  # the fingerprint reads only the tests' variables
OFFLINE = "http://127.0.0.1:9"  # a collector URL nothing listens on


def envparity_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envparity", *args]


def agent_run_args(url: str, spool: Path, *extra: str, environment: str = "staging") -> list[str]:
    """``agent run`` arguments of an agent of fraud/``environment`` pushing to ``url`` and spooling in ``spool``."""
    return [
        *("agent", "run", "--collector", url, "--service", "fraud"),
        *("--environment", environment, "--spool", str(spool), *extra),
    ]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        envparity_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd or REPO / "tests",
    )


def run_check(
    where: list[str], baseline: str = "production", target: str = "staging", *extra: str, service: str = "fraud"
) -> subprocess.CompletedProcess:
    """``envparity check`` of SERVICE from ``where`` (``["--collector", URL]`` or ``["--db", PATH]``)."""
    return run_cli("check", *where, "--service", service, "--baseline", baseline, "--target", target, *extra)


_FINGERPRINT: Fingerprint | None = None


def base_fingerprint() -> Fingerprint:
    global _FINGERPRINT
    if _FINGERPRINT is None:
        _FINGERPRINT = take_fingerprint(SOURCES)
    return _FINGERPRINT


def make_snapshot(
    agent_id: str = "agent-1",
    sequence: int = 0,
    service: str = "fraud",
    environment: str = "staging",
    fingerprint: Fingerprint | None = None,
    acked: str | None = None,
    **sections: Any,
) -> Snapshot:
    end = datetime(2026, 11, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=sequence)
    return build_snapshot(
        agent_id=agent_id,
        sequence=sequence,
        service=service,
        environment=environment,
        window_start=end - timedelta(minutes=1),
        window_end=end,
        fingerprint=fingerprint or base_fingerprint(),
        acked_fingerprint=acked,
        **sections,
    )


def make_agent(collector: str, spool: Path, **options: Any) -> Agent:
    """An agent of fraud/staging that reads no GPU and, unless ``start=True``, runs no background job: the test
    seals and delivers by hand. ``options`` (settings fields, ``Agent`` options) override any of these."""
    defaults: dict[str, Any] = {
        "service": "fraud",
        "environment": "staging",
        "sources": SOURCES,
        "gpu_interval_s": None,
        "start": False,
    }
    return Agent(collector=collector, spool_dir=spool, **{**defaults, **options})


def counts_by_reason(agent: Agent, metric: str) -> dict[str, float]:
    """The samples of one of the agent's counters, by their ``reason`` label (``metric`` without ``_total``)."""
    return {
        s.labels["reason"]: s.value
        for family in agent.metrics.registry.collect()
        if family.name == metric
        for s in family.samples
    }


def post_snapshot(
    url: str, snap: Snapshot | bytes, gzip_body: bool = True, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = snap if isinstance(snap, bytes) else snap.model_dump_json().encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if gzip_body:
        body = gzip.compress(body)
        hdrs["Content-Encoding"] = "gzip"
    return httpx.post(f"{url}/v1/snapshots", content=body, headers=hdrs, timeout=30)


SHADOW_SAMPLES = 1500


def push_environment(url: str, environment: str, shift: float, seed: int, agent: str) -> None:
    """Two windows of samples for one environment; request ids shared across environments (shadow)."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    for seq in range(2):
        samples = []
        for i in range(SHADOW_SAMPLES // 2):
            k = seq * (SHADOW_SAMPLES // 2) + i
            amount = float(rng.normal(100, 20))
            samples.append(
                Sample(
                    ts=now - timedelta(minutes=5) + timedelta(milliseconds=k),
                    request_id=f"r{k}",
                    features={
                        "amount": amount + shift * 20,
                        "hour": int(rng.integers(0, 24)),
                        "merchant": str(rng.choice(["grocery", "fuel"])),
                    },
                    prediction=float(rng.random()),
                    confidence=0.9,
                    latency_s=0.01,
                )
            )
        snap = make_snapshot(
            agent_id=agent,
            sequence=seq,
            environment=environment,
            samples=samples,
            requests=RequestAggregates(requests=SHADOW_SAMPLES // 2),
            outcomes=[
                Outcome(request_id=f"r{seq * (SHADOW_SAMPLES // 2) + i}", outcome=int(i % 2)) for i in range(100)
            ],
        )
        snap.header.window_start = now - timedelta(minutes=6)
        snap.header.window_end = now - timedelta(minutes=1)
        response = post_snapshot(url, snap)
        assert response.status_code == 200, response.text
