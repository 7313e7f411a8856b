"""Daily partitions of the observation tables on PostgreSQL, so that retention drops whole days.

Each table that grows with the fleet (``PARTITIONED``) is partitioned by range on
its time column: one partition per UTC day (``samples_p20261201``) and a default
partition for rows outside every day created. Days are created ahead, from today
to ``AHEAD_DAYS`` after it (timestamps are refused beyond a day from now), at start
and at every retention run, under the schema lock so that replicas do not race.
Retention drops the partitions whose day ended before the cutoff (a file unlinked,
no row rewritten, nothing left for VACUUM) and deletes the rows before the cutoff
from the default partition only, so a row lives up to a day past the retention
period. A key of a partitioned table must hold the time column: ``snapshots`` and
``request_windows`` are unique on (agent, sequence, window end), which a repeated
body always matches; a different body under the same key is refused on reading
the key first (``ingest``). DuckDB keeps plain tables and deletes rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from envparity.collector.store import schema

AHEAD_DAYS = 2
BACK_DAYS = 62  # a table converted with data gets days this far back; older rows go to the default partition
PARTITIONED: tuple[tuple[sa.Table, sa.Column[Any]], ...] = tuple(
    (table, column) for table, column in schema.RETAINED if table is not schema.evaluation_claims
)


def _name(table: sa.Table, day: date) -> str:
    return f"{table.name}_p{day:%Y%m%d}"


def _key(table: sa.Table, column: sa.Column[Any]) -> list[str]:
    """The table's primary key with the partition column, which PostgreSQL requires of a partitioned key."""
    key = [c.name for c in table.primary_key.columns]
    return [*key, column.name] if key and column.name not in key else key


def partition_tables(conn: sa.Connection, tables: tuple[tuple[sa.Table, sa.Column[Any]], ...] = PARTITIONED) -> None:
    """Turn plain tables into partitioned ones, rows and indexes kept (PostgreSQL; a no-op elsewhere or if done)."""
    if conn.dialect.name != "postgresql":
        return
    partitioned = set(conn.execute(sa.text("SELECT relname FROM pg_class WHERE relkind = 'p'")).scalars())
    for table, column in tables:
        if table.name in partitioned:
            continue
        bounds = conn.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
        conn.execute(sa.text(f'ALTER TABLE "{table.name}" RENAME TO "{table.name}_plain"'))
        conn.execute(
            sa.text(
                f'CREATE TABLE "{table.name}" (LIKE "{table.name}_plain" INCLUDING DEFAULTS) '
                f'PARTITION BY RANGE ("{column.name}")'
            )
        )
        conn.execute(sa.text(f'CREATE TABLE "{table.name}_default" PARTITION OF "{table.name}" DEFAULT'))
        today = datetime.now(UTC).date()
        first = max(bounds[0].date(), today - timedelta(days=BACK_DAYS)) if bounds[0] else today
        _create_days(conn, table, first, today + timedelta(days=AHEAD_DAYS))
        conn.execute(sa.text(f'INSERT INTO "{table.name}" SELECT * FROM "{table.name}_plain"'))
        conn.execute(sa.text(f'DROP TABLE "{table.name}_plain"'))  # its key and indexes go with it
        if key := ", ".join(f'"{c}"' for c in _key(table, column)):
            conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD PRIMARY KEY ({key})'))
        for index in table.indexes:
            index.create(conn)


def _create_days(conn: sa.Connection, table: sa.Table, first: date, last: date) -> None:
    day = first
    while day <= last:
        conn.execute(
            sa.text(
                f'CREATE TABLE IF NOT EXISTS "{_name(table, day)}" PARTITION OF "{table.name}" '
                f"FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )
        )
        day += timedelta(days=1)


def create_ahead(conn: sa.Connection, now: datetime) -> None:
    """The days from today to ``AHEAD_DAYS`` after it, for every partitioned table (PostgreSQL; under the lock)."""
    if conn.dialect.name != "postgresql":
        return
    today = now.astimezone(UTC).date()
    for table, _ in PARTITIONED:
        _create_days(conn, table, today, today + timedelta(days=AHEAD_DAYS))


def _days(conn: sa.Connection, table: sa.Table) -> dict[str, date]:
    """The daily partitions of ``table``, by name."""
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
        ),
        {"table": table.name},
    ).scalars()
    prefix = f"{table.name}_p"
    return {n: datetime.strptime(n[len(prefix) :], "%Y%m%d").date() for n in names if n.startswith(prefix)}


def drop_before(conn: sa.Connection, cutoff: datetime) -> dict[str, int]:
    """Drop the partitions whose day ended by ``cutoff`` (naive UTC) and delete older rows from the defaults.

    Returns the rows removed per partitioned table (none but on PostgreSQL): exact from the default partitions,
    PostgreSQL's estimate for the days dropped (counting them would read them).
    """
    removed: dict[str, int] = {}
    if conn.dialect.name != "postgresql":
        return removed
    for table, column in PARTITIONED:
        gone = [name for name, day in _days(conn, table).items() if day + timedelta(days=1) <= cutoff.date()]
        estimate = 0
        if gone:
            estimate = conn.execute(
                sa.text("SELECT coalesce(sum(greatest(reltuples, 0)), 0) FROM pg_class WHERE relname = ANY(:names)"),
                {"names": gone},
            ).scalar_one()
        for name in gone:
            conn.execute(sa.text(f'DROP TABLE "{name}"'))
        default = sa.table(f"{table.name}_default", sa.column(column.name))
        deleted = conn.execute(default.delete().where(default.c[column.name] < cutoff)).rowcount
        removed[table.name] = int(estimate) + deleted
    return removed
