"""Schema creation and migration, run when the collector starts.

The schema version is kept in ``envparity_meta``. A new database gets every
table at the current version; an older one gets each migration step in turn;
a database written by a newer envparity is refused rather than touched. On
PostgreSQL all of it runs under an advisory lock, so that replicas started
together change the schema one after the other (the later ones find it done).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from envparity.collector.store import schema
from envparity.collector.store.partitions import create_ahead, partition_tables

# Version 1 kept one ``sample_features`` row per (sample, feature). A snapshot whose samples were
# partly pruned by retention cannot be laid out by position any more; its features are dropped
# (they would have expired with the rest of the snapshot within one retention period).
_FEATURE_COLUMNS_FROM_ROWS = """
INSERT INTO feature_columns (agent_id, sequence, service, environment, feature, ts_min, ts_max, length,
                             numbers, texts, booleans, num, str)
SELECT s.agent_id, s.sequence, min(s.service), min(s.environment), k.feature, min(s.ts), max(s.ts), count(*),
       count(*) FILTER (WHERE f.kind = 'num'), count(*) FILTER (WHERE f.kind = 'str'),
       count(*) FILTER (WHERE f.kind = 'bool'),
       array_agg(f.num ORDER BY s.idx),
       CASE WHEN count(*) FILTER (WHERE f.kind IN ('str', 'bool')) > 0 THEN
           array_agg(CASE WHEN f.kind = 'bool' THEN (CASE WHEN f.num = 1 THEN 'true' ELSE 'false' END)
                          ELSE f.str END ORDER BY s.idx) END
FROM samples s
JOIN (SELECT DISTINCT agent_id, sequence, feature FROM sample_features) k
  ON k.agent_id = s.agent_id AND k.sequence = s.sequence
LEFT JOIN sample_features f
  ON f.agent_id = s.agent_id AND f.sequence = s.sequence AND f.idx = s.idx AND f.feature = k.feature
GROUP BY s.agent_id, s.sequence, k.feature
HAVING count(*) = max(s.idx) + 1 AND min(s.idx) = 0
"""


def _retype_duckdb(conn: sa.Connection, table: str, columns: list[str]) -> None:
    """Columns of a DuckDB table to DOUBLE; DuckDB alters no column of an indexed table, so its indexes are rebuilt."""
    indexes = conn.execute(
        sa.text("SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = :table"), {"table": table}
    ).all()
    for name, _ in indexes:
        conn.execute(sa.text(f'DROP INDEX "{name}"'))
    for column in columns:
        conn.execute(sa.text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE DOUBLE'))
    for _, create in indexes:
        conn.execute(sa.text(create))


def _feature_rows_to_columns(conn: sa.Connection) -> None:
    """Version 1 to 2: per-(sample, feature) rows become per-(snapshot, feature) arrays; numbers 64-bit on DuckDB.

    Version 1 declared numbers as SQLAlchemy ``Float``: double precision on PostgreSQL, but
    a 32-bit FLOAT on DuckDB. The columns become DOUBLE (values already stored keep their rounding).
    """
    if conn.dialect.name == "duckdb":
        for table in schema.metadata.sorted_tables:
            doubles = [c.name for c in table.columns if isinstance(c.type, sa.Double)]
            # feature_columns is created below; tables of later versions do not exist yet
            if doubles and table is not schema.feature_columns and sa.inspect(conn).has_table(table.name):
                _retype_duckdb(conn, table.name, doubles)
    schema.feature_columns.create(conn)
    conn.execute(sa.text(_FEATURE_COLUMNS_FROM_ROWS))
    conn.execute(sa.text("DROP TABLE sample_features"))


def _snapshots_lost(conn: sa.Connection) -> None:
    """Version 2 to 3: the losses agents report in a snapshot's header (wire 1.1); NULL for the snapshots before."""
    conn.execute(sa.text("ALTER TABLE snapshots ADD COLUMN snapshots_lost TEXT"))


def _probe_outputs(conn: sa.Connection) -> None:
    """Version 3 to 4: the answers of golden probes (wire 1.2), in a table of their own."""
    schema.probe_outputs.create(conn, checkfirst=True)


def _claims_and_partitions(conn: sa.Connection) -> None:
    """Version 4 to 5: which replica evaluates a service in a cycle; on PostgreSQL, observations partitioned by day."""
    schema.evaluation_claims.create(conn, checkfirst=True)
    partition_tables(conn)


# MIGRATIONS[n] upgrades a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    1: _feature_rows_to_columns,
    2: _snapshots_lost,
    3: _probe_outputs,
    4: _claims_and_partitions,
}
SCHEMA_LOCK = 0x656E7670  # "envp": the advisory lock that serialises schema changes across replicas (PostgreSQL)


def lock_schema(conn: sa.Connection) -> None:
    """Hold the schema lock until the transaction ends: replicas change the schema one at a time (PostgreSQL;
    DuckDB has one process)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})


class SchemaTooNew(RuntimeError):
    """The database was written by a newer envparity than this one."""


def current_version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table(schema.meta.name):
        return None
    value = conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).scalar_one_or_none()
    return int(value) if value is not None else None


def migrate(engine: sa.Engine) -> int:
    """Bring the database to ``SCHEMA_VERSION``, and its days of partitions ahead; returns the version found before.

    Under the schema lock: replicas started together on a fresh database create it once.
    """
    with engine.begin() as conn:
        lock_schema(conn)
        found = current_version(conn)
        if found is None:
            schema.metadata.create_all(conn)
            partition_tables(conn)
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
        elif found > schema.SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database schema version {found} is newer than this envparity understands "
                f"({schema.SCHEMA_VERSION}); upgrade envparity"
            )
        else:
            for version in range(found, schema.SCHEMA_VERSION):
                MIGRATIONS[version](conn)
            conn.execute(
                schema.meta.update()
                .where(schema.meta.c.key == "schema_version")
                .values(value=str(schema.SCHEMA_VERSION))
            )
        create_ahead(conn, datetime.now(UTC))
        return found or 0
