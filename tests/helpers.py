"""Helpers for tests: ports, the command line, snapshots built through the wire models."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Fingerprint, Snapshot
from envparity.localservers import free_port, wait_for_http  # noqa: F401 (re-exported for tests)

REPO = Path(__file__).resolve().parents[1]


def envparity_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envparity", *args]


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


_FINGERPRINT: Fingerprint | None = None


def base_fingerprint() -> Fingerprint:
    global _FINGERPRINT
    if _FINGERPRINT is None:
        _FINGERPRINT = take_fingerprint(FingerprintSources(env_prefixes=("ENVPARITY_TEST_",)))
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


def post_snapshot(
    url: str, snap: Snapshot | bytes, gzip_body: bool = True, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = snap if isinstance(snap, bytes) else snap.model_dump_json().encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if gzip_body:
        body = gzip.compress(body)
        hdrs["Content-Encoding"] = "gzip"
    return httpx.post(f"{url}/v1/snapshots", content=body, headers=hdrs, timeout=30)
