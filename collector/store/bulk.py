"""Bulk inserts of column data: Arrow into DuckDB, COPY into PostgreSQL.

Row-by-row ``executemany`` writes a few hundred rows per second into DuckDB; a
registered Arrow table is inserted in one statement at millions of rows per
second, and PostgreSQL's COPY protocol is an order of magnitude faster than
batched INSERTs. Both run on the connection of the caller's transaction, so a
snapshot's rows still commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

Columns = Mapping[str, Sequence[Any]]


def _arrow_table(table: sa.Table, columns: Columns) -> pa.Table:
    fields = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, sa.Float):
            fields.append(pa.field(name, pa.float64()))
        elif isinstance(col_type, sa.Integer):
            fields.append(pa.field(name, pa.int64()))
        elif isinstance(col_type, sa.DateTime):
            fields.append(pa.field(name, pa.timestamp("us")))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.table({n: list(v) for n, v in columns.items()}, schema=pa.schema(fields))


def _duckdb_insert(conn: sa.Connection, table: sa.Table, columns: Columns) -> None:
    raw = conn.connection.driver_connection
    view = f"_bulk_{uuid.uuid4().hex}"
    raw.register(view, _arrow_table(table, columns))
    try:
        names = ", ".join(f'"{n}"' for n in columns)
        raw.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {view}')
    finally:
        raw.unregister(view)


def _postgres_copy(conn: sa.Connection, table: sa.Table, columns: Columns) -> None:
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{n}"' for n in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row(row)


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: Columns) -> int:
    """Insert equally long columns into ``table`` in the caller's transaction; returns the row count."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns of unequal length: {sorted(lengths)}")
    count = lengths.pop()
    if count == 0:
        return 0
    dialect = conn.dialect.name
    if dialect == "duckdb":
        _duckdb_insert(conn, table, columns)
    elif dialect == "postgresql":
        _postgres_copy(conn, table, columns)
    else:
        conn.execute(
            table.insert(),
            [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)],
        )
    return count
