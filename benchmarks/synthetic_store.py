"""A collector store filled in bulk by SQL, for benchmarks of the read side (check, scheduled cycle).

The rows have the shape the collector writes (one row per sample; per snapshot of 2,000
samples, one row per feature holding its values as an array); request ids differ between
environments, so there are no shadow pairs.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from envparity.collector.store import Store, database_url


def build_store(db: Path, services: list[str], environments: dict[str, float], samples: int, features: int) -> None:
    """``samples`` x ``features`` per (service, environment); every 4th feature shifted by the environment's value."""
    Store(database_url(db)).close()  # the schema, as the collector creates it
    con = duckdb.connect(str(db))
    con.execute("SET enable_progress_bar = false")
    ts = "now()::TIMESTAMP - INTERVAL 30 MINUTE + i * INTERVAL 1 MILLISECOND"
    for service in services:
        for env, shift in environments.items():
            agent = f"bench-{service}-{env}"
            con.execute(
                f"INSERT INTO samples SELECT ?, i // 2000, i % 2000, ?, ?, {ts}, ? || i, random(), NULL, 0.9, "
                "0.01, 'v1', NULL FROM range(?) t(i)",
                [agent, service, env, agent, samples],
            )
            con.execute(
                "INSERT INTO feature_columns SELECT ?, i // 2000, ?, ?, 'f' || j, min(ts), max(ts), count(*), "
                "count(*), 0, 0, list(v ORDER BY i), NULL FROM (SELECT i, j, "
                f"{ts} AS ts, sqrt(-2 * ln(random())) * cos(2 * pi() * random()) "
                "+ CASE WHEN j % 4 = 0 THEN ? ELSE 0 END AS v FROM range(?) t(i), range(?) f(j)) "
                "GROUP BY i // 2000, j",
                [agent, service, env, shift, samples, features],
            )
            con.execute(
                "INSERT INTO snapshots VALUES (?, 0, ?, ?, now()::TIMESTAMP - INTERVAL 31 MINUTE, "
                "now()::TIMESTAMP, now()::TIMESTAMP, 'bench', NULL, NULL, NULL, ?)",
                [agent, service, env, "0" * 64],
            )
    con.close()
