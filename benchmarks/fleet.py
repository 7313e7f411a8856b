"""A capacity model: a fleet of agents at their real cadence against one DuckDB collector and replicas on PostgreSQL.

Each agent seals a window a minute and pushes it once, at its own moment of the
minute (agents are not synchronised), as a pre-built gzip body of ``--samples``
samples x 20 features in the column form. A fleet of N agents is 30 agents per
service (10 per environment: production, staging, canary), so N agents make
N / 30 services and their default pairs for the scheduled cycle, which runs every
60 s (the default) on the collectors while they ingest. The bodies are built
once, before the first run, for the largest fleet. Senders are threads, 32 per collector
(its ingest slots), spread over the replicas as a load balancer would.

For each fleet size and store: the snapshots delivered in the minute, the ingest
lag (from an agent's moment to the collector's answer: queueing at the senders
included, so lag grows when the collectors fall behind), and the longest cycle
that ran after the minute, over its data.
A fleet is sustained when every snapshot of the minute is stored within
``--max-lag`` seconds of its moment. The CPU the collector processes used during
the minute gives the agents one busy core takes (the GIL keeps a collector's
Python to about one core; DuckDB's and PostgreSQL's own work is beside it).

    .venv/bin/python benchmarks/fleet.py [--duckdb 3000] [--postgres 3000] [--replicas 2] [--samples 500]
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from load import HEADERS, Agent, Pushed, agent_bodies, collector, cpu_seconds, deliver

from envparity.localservers import create_database, local_postgres

WINDOW_S = 60.0
PER_SERVICE, PER_ENVIRONMENT = 30, 10
SENDERS = 32  # per collector: its ingest slots
EVALUATE_EVERY_S = 60  # the default cycle


@dataclass
class Step:
    store: str
    replicas: int
    agents: int
    delivered: int
    lags: list[float]
    cycle_s: float
    busy: float  # cores the collector processes used during the minute, on average

    @property
    def per_core(self) -> float:
        """Agents one fully busy collector core would take at this cost per snapshot."""
        return self.agents / self.busy

    @property
    def p99(self) -> float:
        return float(np.percentile(self.lags, 99)) if self.lags else float("inf")


def fleet_bodies(agents: int, samples: int) -> list[bytes]:
    """One window of each agent, starting now: the fleet's next minute."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    return [
        agent_bodies(
            Agent(n, f"svc-{n // PER_SERVICE}", ("production", "staging", "canary")[n // PER_ENVIRONMENT % 3], start),
            1,
            samples,
            columns=True,
        )[0]
        for n in range(agents)
    ]


def run_minute(urls: list[str], bodies: list[bytes]) -> list[float]:
    """Each body sent at its agent's moment of the minute; the lag of each from its moment to its answer."""
    rng = np.random.default_rng(0)
    begin = time.monotonic()
    schedule = sorted((begin + float(rng.uniform(0, WINDOW_S)), n) for n in range(len(bodies)))
    lock, lags, pushed = threading.Lock(), [], Pushed()

    def sender(url: str) -> None:
        with httpx.Client(headers=HEADERS, timeout=300) as client:
            while True:
                with lock:
                    if not schedule:
                        return
                    moment, n = heapq.heappop(schedule)
                time.sleep(max(0.0, moment - time.monotonic()))
                deliver(client, url, bodies[n], pushed)
                with lock:
                    lags.append(time.monotonic() - moment)

    threads = [threading.Thread(target=sender, args=(url,)) for url in urls for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if pushed.failures:
        raise RuntimeError(f"{len(pushed.failures)} snapshots refused, first: {pushed.failures[0]}")
    return lags


def _gauge(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=60).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def cycle_after(urls: list[str], end: float) -> float:
    """The longest cycle among the collectors, once each has finished a cycle after ``end`` (Unix time)."""
    deadline = time.monotonic() + 4 * EVALUATE_EVERY_S
    while any(_gauge(u, "envparity_evaluation_last_success_timestamp_seconds") < end for u in urls):
        if time.monotonic() > deadline:
            return float("inf")
        time.sleep(1)
    return max(_gauge(u, "envparity_evaluation_duration_seconds") for u in urls)


def step(store: str, urls: list[str], pids: list[int], agents: int, bodies: list[bytes]) -> Step:
    before, started = cpu_seconds(pids), time.monotonic()
    lags = run_minute(urls, bodies[:agents])
    busy = (cpu_seconds(pids) - before) / (time.monotonic() - started)
    result = Step(store, len(urls), agents, len(lags), lags, cycle_after(urls, time.time()), busy)
    print(
        f"  {store:10s} x{len(urls)} {agents:5d} agents: {result.delivered} snapshots, lag p50 "
        f"{np.percentile(lags, 50):5.2f} s, p99 {result.p99:5.2f} s, max {max(lags):5.2f} s; "
        f"cycle {result.cycle_s:5.1f} s; collectors {busy:4.2f} cores busy",
        flush=True,
    )
    return result


@contextlib.contextmanager
def replicas(database: str, workdir: Path, count: int, flags: list[str], pids: list[int]) -> Iterator[list[str]]:
    """``count`` collectors on one database; yields their URLs."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(collector(database, workdir / f"replica-{i}.log", *flags, pids=pids))
            for i in range(count)
        ]


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", type=_ints, default=[3000], help="fleet sizes against one DuckDB collector")
    parser.add_argument("--postgres", type=_ints, default=[3000], help="fleet sizes against the PostgreSQL replicas")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--samples", type=int, default=500, help="samples per window")
    parser.add_argument("--max-lag", type=float, default=10.0, help="seconds within which a fleet is sustained")
    args = parser.parse_args()
    largest = max(args.duckdb + args.postgres)
    print(
        f"fleet benchmark: up to {largest} agents, {args.samples} samples x 20 features a minute, {os.cpu_count()} CPUs"
    )
    workdir = Path(tempfile.mkdtemp(prefix="envparity-fleet-"))
    flags = ["--evaluate-every", str(int(WINDOW_S / 2))]
    steps = []
    for agents in args.duckdb:
        bodies = fleet_bodies(agents, args.samples)
        pids: list[int] = []
        store = f"duckdb:///{workdir}/fleet-{agents}.duckdb"
        with collector(store, workdir / f"duckdb-{agents}.log", *flags, pids=pids) as url:
            steps.append(step("duckdb", [url], pids, agents, bodies))
    if args.postgres:
        with local_postgres() as server:
            for agents in args.postgres:
                database = create_database(server, f"fleet_{agents}")
                pids = []
                with replicas(database, workdir, args.replicas, flags, pids) as urls:
                    steps.append(step("postgresql", urls, pids, agents, bodies))
    print(
        f"\n| store | collectors | agents | snapshots/s | sample rows/s | lag p50 s | lag p99 s | cycle s | "
        f"sustained (p99 lag <= {args.max_lag:g} s) | collector cores busy | agents per busy core |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for s in steps:
        rate = s.delivered / WINDOW_S
        sustained = "yes" if s.p99 <= args.max_lag else "no"
        print(
            f"| {s.store} | {s.replicas} | {s.agents} | {rate:.0f} | {rate * args.samples:,.0f} | "
            f"{np.percentile(s.lags, 50):.2f} | {s.p99:.2f} | {s.cycle_s:.1f} | {sustained} | {s.busy:.2f} | "
            f"{s.per_core:,.0f} |"
        )


if __name__ == "__main__":
    main()
