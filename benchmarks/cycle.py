"""One scheduled evaluation cycle: 100 services x 3 environments x 50 features on a DuckDB store.

Each service has production, staging and canary (each 2,000 samples, one window of
the default reservoir); the cycle evaluates staging and canary against production,
200 evaluations, as the collector's minute job does (``ParityService.evaluate_all``).
Two cycles run in one process: the first as a freshly started collector's (it also
imports SciPy and fills the p-value cache), the second as every later minute's.

    .venv/bin/python benchmarks/cycle.py [--services 100] [--features 50] [--samples 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from synthetic_store import build_store

from envparity.collector.service import ParityService
from envparity.collector.store import Store, database_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="envparity-cycle-")) / "store.duckdb"
    started = time.perf_counter()
    build_store(
        db,
        [f"svc{i:03d}" for i in range(args.services)],
        {"production": 0.0, "staging": 0.0, "canary": 0.3},
        args.samples,
        args.features,
    )
    print(
        f"store: {args.services} services x 3 environments x {args.samples} samples x {args.features} features "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    store = Store(database_url(db))
    parity = ParityService(store)
    for cycle in ("first", "second"):  # the first also imports SciPy (about 1 s) and warms the caches
        started = time.perf_counter()
        results = parity.evaluate_all()
        elapsed = time.perf_counter() - started
        by_target = {
            t: sum(1 for r in results if r.target == t and r.status == "fail") for t in {r.target for r in results}
        }
        print(
            f"{cycle} cycle: {len(results)} evaluations in {elapsed:.2f} s "
            f"({elapsed / max(len(results), 1) * 1000:.0f} ms each); failing: {by_target} "
            "(canary carries a 0.3 std shift in every 4th feature)"
        )
    store.close()


if __name__ == "__main__":
    main()
