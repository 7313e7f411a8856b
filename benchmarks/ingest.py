"""Ingest throughput: snapshots/s and sample rows/s over real HTTP into DuckDB and PostgreSQL.

Each agent is a thread with its own HTTP client sending pre-built gzip snapshots
(so that the figures measure the collector, not the client) to a collector
process on loopback. Side by side, in the same run: the same snapshots written
straight into the same kind of store in-process (no HTTP, no validation), the
floor a hand-written loader would reach.

    .venv/bin/python benchmarks/ingest.py [--snapshots 40] [--samples 500] [--features 20]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Sample, Snapshot
from envparity.collector.store import Store
from envparity.localservers import create_database, free_port, local_postgres, wait_for_http


def make_snapshots(agent: int, count: int, samples: int, features: int) -> list[Snapshot]:
    rng = np.random.default_rng(agent)
    fp = take_fingerprint(FingerprintSources(env_prefixes=("ENVPARITY_BENCH_",)))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    snaps = []
    for seq in range(count):
        values = rng.normal(size=(samples, features))
        rows = [
            Sample(
                ts=start + timedelta(seconds=seq * 60 + i * 0.1),
                request_id=f"a{agent}-{seq}-{i}",
                features={f"f{j}": float(values[i, j]) for j in range(features)},
                prediction=float(values[i, 0] > 0),
                confidence=0.9,
                latency_s=0.01,
            )
            for i in range(samples)
        ]
        snaps.append(
            build_snapshot(
                agent_id=f"bench-{agent}",
                sequence=seq,
                service="bench",
                environment=f"env{agent % 3}",
                window_start=start + timedelta(minutes=seq),
                window_end=start + timedelta(minutes=seq + 1),
                fingerprint=fp,
                acked_fingerprint=fp.hash if seq else None,
                samples=rows,
            )
        )
    return snaps


def over_http(url: str, bodies: list[list[bytes]]) -> float:
    errors: list[str] = []

    def push(agent_bodies: list[bytes]) -> None:
        with httpx.Client(
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}, timeout=120
        ) as client:
            for body in agent_bodies:
                response = client.post(f"{url}/v1/snapshots", content=body)
                if response.status_code != 200:
                    errors.append(response.text[:200])

    threads = [threading.Thread(target=push, args=(b,)) for b in bodies]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} pushes failed, first: {errors[0]}")
    return elapsed


def in_process(store_url: str, snaps: list[Snapshot]) -> float:
    store = Store(store_url)
    started = time.perf_counter()
    for snap in snaps:
        store.ingest(
            snap,
            hashlib.sha256(snap.header.agent_id.encode() + bytes(snap.header.sequence)).hexdigest(),
            datetime.now(UTC),
        )
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def run_backend(name: str, new_store_url, args: argparse.Namespace, workdir: Path) -> list[dict]:
    results = []
    for agents in (1, 4, 16):
        per_agent = max(1, args.snapshots // agents)
        snaps = [make_snapshots(a, per_agent, args.samples, args.features) for a in range(agents)]
        bodies = [[gzip.compress(s.model_dump_json().encode(), 6) for s in agent] for agent in snaps]
        url_store = new_store_url(f"{name}_http_{agents}")
        port = free_port()
        log = (workdir / f"collector-{name}-{agents}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "envparity",
                "collector",
                "serve",
                "--database-url",
                url_store,
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"},
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/ready", proc=proc)
            elapsed = over_http(f"http://127.0.0.1:{port}", bodies)
        finally:
            proc.terminate()
            proc.wait()
            log.close()
        total = agents * per_agent
        direct = in_process(new_store_url(f"{name}_direct_{agents}"), [s for a in snaps for s in a])
        results.append(
            {
                "backend": name,
                "agents": agents,
                "snapshots": total,
                "snap_per_s": total / elapsed,
                "rows_per_s": total * args.samples / elapsed,
                "direct_rows_per_s": total * args.samples / direct,
            }
        )
        print(
            f"  {name:10s} agents={agents:2d}: {total / elapsed:7.1f} snapshots/s, "
            f"{total * args.samples / elapsed:9.0f} sample rows/s over HTTP; "
            f"{total * args.samples / direct:9.0f} rows/s in-process",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=48, help="snapshots per concurrency level")
    parser.add_argument("--samples", type=int, default=500, help="samples per snapshot")
    parser.add_argument("--features", type=int, default=20, help="features per sample")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"ingest benchmark: {args.snapshots} snapshots x {args.samples} samples x {args.features} "
        f"features per level, {os.cpu_count()} CPUs"
    )
    workdir = Path(tempfile.mkdtemp(prefix="envparity-bench-"))
    results = run_backend("duckdb", lambda n: f"duckdb:///{workdir / n}.duckdb", args, workdir)
    if not args.skip_postgres:
        with local_postgres() as server:
            results += run_backend("postgresql", lambda n: create_database(server, n), args, workdir)
    print("\n| backend | agents | snapshots/s | sample rows/s (HTTP) | sample rows/s (in-process, no HTTP) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['agents']} | {r['snap_per_s']:.1f} | {r['rows_per_s']:.0f} | "
            f"{r['direct_rows_per_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
