"""Retention at fleet scale on PostgreSQL: pruning one day of a fleet, whole partitions dropped against rows deleted.

A day of ``--agents`` agents, each sealing a window a minute (snapshots, request
windows, one GPU window, ``--samples`` sample rows and ``--features`` feature
rows per window), is generated in SQL into a store partitioned by day (schema
5). The store is pruned by the store (the day's partitions dropped), a copy of it
(``CREATE DATABASE ... TEMPLATE``) by the row-by-row DELETE that retention ran
before, which costs the same per row in a partition as in a plain table, and
the VACUUM that must follow it before the space is reused. The server runs with
``fsync=off`` (a test server), which flatters the DELETE: its WAL is not synced.

    .venv/bin/python benchmarks/retention.py [--agents 3000] [--samples 1] [--features 1]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from envparity.collector.store import Store
from envparity.collector.store import schema as tables
from envparity.collector.store.partitions import create_ahead
from envparity.localservers import create_database, local_postgres

DAY = (datetime.now(UTC) - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
WINDOWS = 1440
KEY = "'agent-' || a, w, 'svc-' || (a / 30), (ARRAY['production','staging','canary'])[a % 3 + 1]"
WINDOW_END = f"TIMESTAMP '{DAY}' + (w + 1) * INTERVAL '1 minute'"
FLEET = "generate_series(0, :agents - 1) a, generate_series(0, 1439) w"
ROWS = {
    "snapshots": f"INSERT INTO snapshots (agent_id, sequence, service, environment, window_start, window_end, "
    f"received_at, agent_version, body_sha256) SELECT {KEY}, {WINDOW_END} - INTERVAL '1 minute', {WINDOW_END}, "
    f"{WINDOW_END}, '0.1.0', md5(a::text || w) || md5(w::text || a) FROM {FLEET}",
    "request_windows": f"INSERT INTO request_windows SELECT {KEY}, {WINDOW_END} - INTERVAL '1 minute', {WINDOW_END}, "
    f"100, 1, '{{}}', '[]', '[]', 1.5 FROM {FLEET}",
    "gpu_windows": f"INSERT INTO gpu_windows (agent_id, sequence, service, environment, window_end, hostname, uuid, "
    f"gpu_index, name, lost, gpu_values) SELECT {KEY}, {WINDOW_END}, 'host-' || a, 'GPU-' || a, 0, 'H100', false, "
    f"'{{\"DCGM_FI_DEV_GPU_UTIL\": 55}}' FROM {FLEET}",
    "samples": f"INSERT INTO samples (agent_id, sequence, service, environment, idx, ts, request_id, prediction_num) "
    f"SELECT {KEY}, i, {WINDOW_END} - INTERVAL '30 seconds', 'r-' || a || '-' || w || '-' || i, random() "
    f"FROM {FLEET}, generate_series(0, :samples - 1) i",
    "feature_columns": f"INSERT INTO feature_columns SELECT {KEY}, 'f' || f, {WINDOW_END} - INTERVAL '1 minute', "
    f"{WINDOW_END}, :samples, :samples, 0, 0, array_fill(random(), ARRAY[:samples]), NULL "
    f"FROM {FLEET}, generate_series(0, :features - 1) f",
}


def fill(url: str, args: argparse.Namespace) -> dict[str, int]:
    """A day of the fleet; the rows per table."""
    engine = sa.create_engine(url)
    counts = {}
    with engine.begin() as conn:
        create_ahead(conn, DAY.replace(tzinfo=UTC))  # the day's partitions, as a collector running then made them
        for table, sql in ROWS.items():
            started = time.perf_counter()
            counts[table] = conn.execute(sa.text(sql), vars(args)).rowcount
            print(f"  {table:16s} {counts[table]:>12,} rows generated in {time.perf_counter() - started:6.1f} s")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    engine.dispose()
    return counts


def checkpoint(url: str) -> None:
    """Dirty pages written out first, so that neither way of pruning pays for the other's writes."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("CHECKPOINT"))
    engine.dispose()


def copy_of(server: str, url: str, name: str) -> str:
    """A copy of the database at ``url`` (no one else connected), made by PostgreSQL file by file."""
    database = url.rsplit("/", 1)[1]
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{database}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def delete_rows(url: str, cutoff: datetime) -> tuple[float, float]:
    """The seconds retention took before: a DELETE per table, then the VACUUM that makes the space reusable."""
    engine = sa.create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        for table, column in tables.RETAINED:
            conn.execute(table.delete().where(column < cutoff))
    deleted = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM"))
    vacuumed = time.perf_counter() - started - deleted
    engine.dispose()
    return deleted, vacuumed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=1, help="sample rows per window (and values per feature row)")
    parser.add_argument("--features", type=int, default=1, help="feature rows per window")
    args = parser.parse_args()
    cutoff = DAY + timedelta(days=1)
    print(f"retention benchmark: one day ({DAY:%Y-%m-%d}) of {args.agents} agents, {WINDOWS} windows each")
    with local_postgres() as server:
        url = create_database(server, "fleet")
        Store(url).close()  # schema 5
        print("a day of the fleet, partitioned by day:")
        counts = fill(url, args)
        copy = copy_of(server, url, "copy")
        checkpoint(copy)
        deleted, vacuumed = delete_rows(copy, cutoff)
        checkpoint(url)
        store = Store(url)
        started = time.perf_counter()
        removed = store.prune(cutoff)
        dropped = time.perf_counter() - started
        store.close()
    total = sum(counts.values())
    print(f"\n| prune of one day ({total:,} rows) | seconds | rows/s |\n|---|---|---|")
    print(f"| DELETE row by row (before, on a copy) | {deleted:.2f} | {total / deleted:,.0f} |")
    print(f"| ... and the VACUUM that frees its space | {vacuumed:.2f} | |")
    print(f"| day partitions dropped (after) | {dropped:.2f} | {total / dropped:,.0f} |")
    print(f"\nrows removed, as the store reports them (estimates for dropped days): {removed}")


if __name__ == "__main__":
    main()
