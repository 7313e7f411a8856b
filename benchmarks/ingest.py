"""Ingest throughput and latency over real HTTP into DuckDB and PostgreSQL, before and after, side by side.

Agents are threads with an HTTP client each, pushing pre-built gzip snapshots
(``load``) back to back to a collector process on loopback; a 429 is waited out as
an agent does. Each backend runs two ways in the same run:

* before: samples in the row form, each snapshot in a transaction of its own
  (``--ingest-group 1``);
* after: samples in the column form (wire 1.3) and group commit (the default);
* grouped (with ``--modes``): the row form with group commit, to tell the two apart.

Every run ends by checking that nothing was lost (the store holds every snapshot
and every sample once) and that idempotency holds (a few bodies sent again are
answered as duplicates and store nothing).

    .venv/bin/python benchmarks/ingest.py [--samples 500,2000] [--agents 8,50] [--modes before,after]
                                          [--rows 200000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from load import HEADERS, Pushed, agent_bodies, collector, deliver, push_all, stored_rows

from envparity.localservers import create_database, local_postgres

# (column form, collector flags); "grouped": the row form with group commit, to tell the two levers apart
MODES = {"before": (False, ["--ingest-group", "1"]), "grouped": (False, []), "after": (True, [])}
RESENT = 10  # bodies sent again at the end of a run: each must be a duplicate


@dataclass
class Result:
    backend: str
    mode: str
    samples: int
    agents: int
    snapshots: int
    seconds: float
    pushed: Pushed

    @property
    def rows_per_s(self) -> float:
        return self.snapshots * self.samples / self.seconds


def warm_up(url: str, bodies: list[bytes]) -> None:
    """A first snapshot before the clock starts (the first ingest of a process imports what it needs)."""
    with httpx.Client(headers=HEADERS, timeout=300) as client:
        for body in bodies:
            deliver(client, url, body, Pushed())


def _check_complete(url: str, bodies: list[list[bytes]], samples: int) -> None:
    """Nothing lost, nothing twice: every body stored once, and a few sent again answered as duplicates."""
    snapshots = sum(len(own) for own in bodies) + 1  # and the warm-up's
    again = Pushed()
    with httpx.Client(headers=HEADERS, timeout=300) as client:
        for own in bodies[:RESENT]:
            deliver(client, url, own[0], again)
    rows = stored_rows(url)
    if again.duplicates != min(RESENT, len(bodies)) or again.failures:
        raise RuntimeError(f"resent bodies not answered as duplicates: {again.failures or again.duplicates}")
    if rows["snapshots"] != snapshots or rows["samples"] != snapshots * samples:
        raise RuntimeError(f"stored {rows['snapshots']} snapshots, {rows['samples']} samples; sent {snapshots}")


def run(backend: str, new_url: Callable[[str], str], args: argparse.Namespace, workdir: Path) -> list[Result]:
    results = []
    for samples in args.samples:
        count = max(args.rows // samples, 1)
        for mode in args.modes:
            columns, flags = MODES[mode]
            for agents in args.agents:
                per_agent = max(count // agents, 1)
                bodies = [agent_bodies(a, per_agent, samples, columns=columns) for a in range(agents)]
                name = f"{backend}-{mode}-{samples}-{agents}"
                with collector(new_url(name.replace("-", "_")), workdir / f"{name}.log", *flags) as url:
                    warm_up(url, agent_bodies(agents, 1, samples, columns=columns, service="warm-up"))
                    seconds, pushed = push_all([url], bodies)
                    if pushed.failures:
                        raise RuntimeError(f"{len(pushed.failures)} pushes failed, first: {pushed.failures[0]}")
                    _check_complete(url, bodies, samples)
                result = Result(backend, mode, samples, agents, per_agent * agents, seconds, pushed)
                results.append(result)
                print(
                    f"  {backend:10s} {mode:6s} {samples:5d} samples, {agents:2d} agents: "
                    f"{result.rows_per_s:9.0f} rows/s, p50 {pushed.percentile(50) * 1000:6.0f} ms, "
                    f"p99 {pushed.percentile(99) * 1000:6.0f} ms, {pushed.refused} refused (429)",
                    flush=True,
                )
    return results


def _table(results: list[Result]) -> None:
    print(
        "\n| backend | samples | agents | before: rows/s | p50 ms | p99 ms | after: rows/s | p50 ms | p99 ms | x |"
        "\n|---|---|---|---|---|---|---|---|---|---|"
    )
    runs = {(r.backend, r.mode, r.samples, r.agents): r for r in results}
    for (backend, mode, samples, agents), before in runs.items():
        after = runs.get((backend, "after", samples, agents))
        if mode != "before" or after is None:
            continue
        cells = [
            f"{r.rows_per_s:,.0f} | {r.pushed.percentile(50) * 1000:.0f} | {r.pushed.percentile(99) * 1000:.0f}"
            for r in (before, after)
        ]
        gain = after.rows_per_s / before.rows_per_s
        print(f"| {backend} | {samples} | {agents} | {cells[0]} | {cells[1]} | {gain:.1f} |")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=_ints, default=[500, 2000], help="samples per snapshot, comma-separated")
    parser.add_argument("--agents", type=_ints, default=[8, 50], help="concurrent agents, comma-separated")
    parser.add_argument("--modes", type=lambda t: t.split(","), default=["before", "after"], help=", ".join(MODES))
    parser.add_argument("--rows", type=int, default=200_000, help="sample rows sent per run")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(f"ingest benchmark: {args.rows} sample rows x 20 features per run, {os.cpu_count()} CPUs")
    workdir = Path(tempfile.mkdtemp(prefix="envparity-bench-"))
    results = run("duckdb", lambda name: f"duckdb:///{workdir / name}.duckdb", args, workdir)
    if not args.skip_postgres:
        with local_postgres() as server:
            results += run("postgresql", lambda name: create_database(server, name), args, workdir)
    _table(results)


if __name__ == "__main__":
    main()
