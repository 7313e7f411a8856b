"""Shared fixtures: real DuckDB files, a real PostgreSQL server, real collector processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from helpers import envparity_cmd

from envparity.localservers import create_database, free_port, local_postgres, wait_for_http

# --- PostgreSQL ------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server from the Debian package, in a temp dir, on a loopback port."""
    with local_postgres() as url:
        yield url


@pytest.fixture
def pg_database(postgres: str) -> str:
    """A fresh, empty database on the shared server."""
    return create_database(postgres, f"t{os.getpid()}_{time.monotonic_ns()}")


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every ingest test runs on both backends."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'store.duckdb'}"
    return request.getfixturevalue("pg_database")


# --- collector process --------------------------------------------------------


@dataclass
class CollectorProcess:
    url: str
    port: int
    store_url: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> CollectorProcess:
        with self.log_path.open("ab") as log:
            self.proc = self._spawn(log)
        wait_for_http(f"{self.url}/ready", proc=self.proc)
        return self

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen:
        return subprocess.Popen(
            envparity_cmd("collector", "serve", "--database-url", self.store_url, "--port", str(self.port), *self.args),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
            env={**os.environ, **self.env},
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator:
    started: list[CollectorProcess] = []

    def _start(store_url: str, *args: str, env: dict[str, str] | None = None) -> CollectorProcess:
        port = free_port()
        proc = CollectorProcess(
            url=f"http://127.0.0.1:{port}",
            port=port,
            store_url=store_url,
            args=list(args),
            log_path=tmp_path / f"collector-{port}.log",
            env=env or {},
        )
        started.append(proc)
        return proc.start()

    yield _start
    for proc in started:
        proc.kill(signal.SIGTERM)


@pytest.fixture
def collector(start_collector, store_url: str) -> CollectorProcess:
    return start_collector(store_url)


@pytest.fixture
def duck_collector(start_collector, tmp_path: Path) -> CollectorProcess:
    """A collector on a DuckDB file of the test's own (``store.duckdb`` in ``tmp_path``)."""
    return start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}")
