"""Helpers for tests: ports, the command line, snapshots built through the wire models."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Fingerprint, Snapshot

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def envparity_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envparity", *args]


def wait_for_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


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
