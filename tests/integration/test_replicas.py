"""Replicas on one real PostgreSQL database: started together on a fresh database they all come up, every replica
ingests, each pair is evaluated once per cycle across them, their gauges agree, and a replica killed with SIGKILL
has its services taken over by the others."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from helpers import envparity_cmd, make_snapshot, post_snapshot

from envparity.agent.wire import Sample
from envparity.localservers import free_port, wait_for_http

SERVICES = ("fraud", "search", "ranking")
ENVIRONMENTS = ("production", "staging")
EVERY_S = 3


class Replica:
    """One ``collector serve`` process."""

    def __init__(self, database: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                envparity_cmd(
                    "collector",
                    "serve",
                    "--database-url",
                    database,
                    "--port",
                    str(self.port),
                    "--evaluate-every",
                    str(EVERY_S),
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def name(self) -> str:
        """What the replica writes in its claims."""
        return f"{socket.gethostname()}/{self.proc.pid}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


@pytest.fixture
def replicas(pg_database: str, tmp_path: Path) -> Iterator[list[Replica]]:
    """Three replicas started at the same instant on a fresh database, each ready."""
    started = [Replica(pg_database, tmp_path / f"replica-{i}.log") for i in range(3)]
    try:
        for replica in started:
            wait_for_http(f"{replica.url}/ready", timeout_s=90, proc=replica.proc)
        yield started
    finally:
        for replica in started:
            replica.stop()


def _push(replicas: list[Replica]) -> None:
    """Two environments of each service, each through another replica."""
    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    for n, (service, environment) in enumerate((s, e) for s in SERVICES for e in ENVIRONMENTS):
        samples = [
            Sample(ts=now - timedelta(minutes=5, milliseconds=-i), features={"x": float(v)}, prediction=float(v > 0))
            for i, v in enumerate(rng.normal(size=300))
        ]
        snap = make_snapshot(
            agent_id=f"{service}-{environment}", service=service, environment=environment, samples=samples
        )
        assert post_snapshot(replicas[n % len(replicas)].url, snap).status_code == 200


def _claims(database: str) -> list[tuple[str, int, str, bool]]:
    """(service, cycle, replica, finished) of every claim."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT service, cycle, replica, finished_at IS NOT NULL FROM evaluation_claims")
            ).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


def _complete_cycles(database: str) -> list[int]:
    """The cycles whose every service's evaluations are stored."""
    done: dict[int, set[str]] = {}
    for service, cycle, _, finished in _claims(database):
        if finished:
            done.setdefault(cycle, set()).add(service)
    return sorted(c for c, services in done.items() if services == set(SERVICES))


def _wait_for_cycles(database: str, count: int, after: int = -1) -> list[int]:
    deadline = time.monotonic() + 180
    while len(cycles := [c for c in _complete_cycles(database) if c > after]) < count:
        assert time.monotonic() < deadline, f"only {len(cycles)} complete cycles after {after}"
        time.sleep(0.5)
    return cycles


def _evaluations(database: str) -> dict[tuple[str, str, str], int]:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT service, baseline, target, count(*) FROM evaluations GROUP BY 1, 2, 3")
            ).all()
    finally:
        engine.dispose()
    return {(s, b, t): n for s, b, t, n in rows}


def _scores(url: str) -> dict[str, str]:
    lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    return dict(line.rsplit(" ", 1) for line in lines if line.startswith("envparity_parity_score{"))


def test_replicas_started_together_evaluate_each_pair_once_per_cycle(replicas, pg_database):
    _push(replicas)
    _wait_for_cycles(pg_database, 4)
    scores = [_scores(r.url) for r in replicas]
    for replica in replicas:
        replica.stop()
    claims = _claims(pg_database)
    evaluations = _evaluations(pg_database)
    assert {pair[0] for pair in evaluations} == set(SERVICES)
    for (service, _, _), count in evaluations.items():
        ours = [c for c in claims if c[0] == service]
        finished = sum(c[3] for c in ours)
        # each claimed cycle stored one evaluation of the pair at most, and every finished one stored it
        assert finished <= count <= len({c[1] for c in ours}) == len(ours), (service, count, ours)
    # every replica exports every pair, evaluated by itself or read from the store
    assert len(scores[0]) == len(evaluations)
    assert scores[0].keys() == scores[1].keys() == scores[2].keys()


def test_a_killed_replica_s_services_are_taken_over(replicas, pg_database):
    _push(replicas)
    cycles = _wait_for_cycles(pg_database, 2)
    holders = {replica for _, cycle, replica, _ in _claims(pg_database) if cycle == cycles[-1]}
    victim = next(r for r in replicas if r.name in holders)
    victim.stop(signal.SIGKILL)
    killed_in = max(cycle for _, cycle, replica, _ in _claims(pg_database) if replica == victim.name)
    after = _wait_for_cycles(pg_database, 2, after=killed_in)
    claims = _claims(pg_database)
    assert not [c for c in claims if c[2] == victim.name and c[1] > killed_in]
    first = min(cycle for _, cycle, _, _ in claims if cycle > killed_in)
    # the first cycle after the kill evaluates every service, and so does every later one
    taken = {service for service, cycle, _, _ in claims if cycle == first}
    assert taken == set(SERVICES), (first, taken, after)
    survivors = {r.name for r in replicas if r is not victim}
    assert {replica for _, cycle, replica, _ in claims if cycle > killed_in} <= survivors
