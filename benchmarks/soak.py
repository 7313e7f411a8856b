"""Memory soak: a collector on DuckDB with the scheduled evaluation on, under N agents for minutes; its RSS curve.

A real collector process (``--evaluate-every 5``, the default DuckDB memory
limit unless ``--duckdb-memory-limit``) on a DuckDB file in a temporary folder;
``--agents`` simulated agents, one thread each, post a gzip snapshot of 500
samples x 20 features every ``--period`` seconds (2-3 environments of one
service, so the evaluation has pairs). The collector's RSS is sampled every 5 s,
with DuckDB's buffer memory (``envparity_store_memory_bytes``). Prints the
curve's start, max, end and the slope of its last half, of the RSS and of the
RSS less DuckDB's buffers; exits 1 when the max exceeds the ceiling (DuckDB's
limit plus the process's own budget, ``soak_driver.PROCESS_BUDGET_MIB``, unless
``--ceiling-mib``) or a snapshot was not acknowledged. The driver is
``tests/soak_driver.py``, shared with ``tests/integration/test_soak.py``.

    .venv/bin/python benchmarks/soak.py [--agents 50] [--minutes 10] [--duckdb-memory-limit 512MiB] [--ceiling-mib N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from soak_driver import PROCESS_BUDGET_MIB, ceiling_mib, collector, soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--period", type=float, default=3.0, help="seconds between an agent's snapshots")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--evaluate-every", type=float, default=5.0)
    parser.add_argument(
        "--ceiling-mib",
        type=float,
        help=f"default: the DuckDB memory limit plus {PROCESS_BUDGET_MIB} MiB for the process's own memory",
    )
    parser.add_argument("--duckdb-memory-limit", help="the collector's --duckdb-memory-limit (default: its own)")
    args = parser.parse_args()
    ceiling = args.ceiling_mib or ceiling_mib(args.duckdb_memory_limit)
    print(
        f"soak: {args.agents} agents, {args.samples} samples x {args.features} features every {args.period:g} s, "
        f"{args.minutes:g} min, evaluation every {args.evaluate_every:g} s, {os.cpu_count()} CPUs",
        flush=True,
    )
    limit = ("--duckdb-memory-limit", args.duckdb_memory_limit) if args.duckdb_memory_limit else ()
    with (
        tempfile.TemporaryDirectory(prefix="envparity-soak-") as tmp,
        collector(Path(tmp), args.evaluate_every, *limit) as (url, pid),
    ):
        result = soak(url, pid, args.agents, args.minutes * 60, args.period, args.samples, args.features, progress=True)
    print(result.summary())
    for failure in result.failures[:5]:
        print(f"  failure: {failure}")
    if result.peak_mib > ceiling:
        print(f"FAIL: peak RSS {result.peak_mib:.0f} MiB over the ceiling of {ceiling:.0f} MiB")
        return 1
    if result.failures or result.acked != result.sent:
        print("FAIL: not every snapshot was acknowledged")
        return 1
    print(f"ok: peak RSS under the ceiling of {ceiling:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
