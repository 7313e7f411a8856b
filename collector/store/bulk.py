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

from envparity.collector.store.sql import driver_connection

Columns = Mapping[str, Sequence[Any]]


def _types(col_type: sa.types.TypeEngine[Any]) -> tuple[pa.DataType, str]:
    """A column type as (Arrow type, PostgreSQL COPY type name)."""
    if isinstance(col_type, sa.ARRAY):
        item, name = _types(col_type.item_type)
        return pa.list_(item), f"{name}[]"
    if isinstance(col_type, sa.Float):
        return pa.float64(), "float8"
    if isinstance(col_type, sa.Integer):
        return pa.int64(), "int8"
    if isinstance(col_type, sa.DateTime):
        return pa.timestamp("us"), "timestamp"
    return pa.string(), "text"


def _arrow_table(table: sa.Table, columns: Columns) -> pa.Table:
    schema = pa.schema([pa.field(name, _types(table.c[name].type)[0]) for name in columns])
    return pa.table({n: list(v) for n, v in columns.items()}, schema=schema)


def _duckdb_insert(conn: sa.Connection, table: sa.Table, columns: Columns) -> None:
    raw = driver_connection(conn)
    view = f"_bulk_{uuid.uuid4().hex}"
    raw.register(view, _arrow_table(table, columns))
    try:
        names = ", ".join(f'"{n}"' for n in columns)
        raw.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {view}')
    finally:
        raw.unregister(view)


def _postgres_copy(conn: sa.Connection, table: sa.Table, columns: Columns) -> None:
    raw = driver_connection(conn)
    names = ", ".join(f'"{n}"' for n in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        copy.set_types([_types(table.c[name].type)[1] for name in columns])
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
