"""Bulk inserts of column data: Arrow into DuckDB, binary COPY into PostgreSQL.

Row-by-row ``executemany`` writes a few hundred rows per second into DuckDB; a
registered Arrow table is inserted in one statement at millions of rows per
second, and PostgreSQL's COPY protocol is an order of magnitude faster than
batched INSERTs. COPY runs in its binary format: numbers travel as their bytes,
and a column of number arrays (a feature's values) is encoded by NumPy in one pass
per array rather than value by value. Both run on the connection of the caller's
transaction, so the rows still commit or roll back together.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from psycopg.adapt import Dumper
from psycopg.pq import Format

from envparity.collector.store.sql import driver_connection

Columns = Mapping[str, Sequence[Any]]
_FLOAT8_OID = 701


def _types(col_type: sa.types.TypeEngine[Any]) -> tuple[pa.DataType, str]:
    """A column type as (Arrow type, PostgreSQL type name), exactly as the binary COPY format needs it."""
    if isinstance(col_type, sa.ARRAY):
        item, name = _types(col_type.item_type)
        return pa.list_(item), f"{name}[]"
    if isinstance(col_type, sa.Float):
        return pa.float64(), "float8"
    if isinstance(col_type, sa.BigInteger):
        return pa.int64(), "int8"
    if isinstance(col_type, sa.Integer):
        return pa.int32(), "int4"
    if isinstance(col_type, sa.Boolean):
        return pa.bool_(), "bool"
    if isinstance(col_type, sa.DateTime):
        return pa.timestamp("us"), "timestamp"
    return pa.string(), "text"


def arrow_table(table: sa.Table, columns: Columns | pa.Table) -> pa.Table:
    """Columns as an Arrow table typed as ``table``'s columns are."""
    names = columns.column_names if isinstance(columns, pa.Table) else list(columns)
    schema = pa.schema([pa.field(name, _types(table.c[name].type)[0]) for name in names])
    if isinstance(columns, pa.Table):
        return columns.cast(schema)
    return pa.table({n: list(v) for n, v in columns.items()}, schema=schema)


def _duckdb_insert(conn: sa.Connection, table: sa.Table, data: pa.Table) -> None:
    raw = driver_connection(conn)
    view = f"_bulk_{uuid.uuid4().hex}"
    raw.register(view, data)
    try:
        names = ", ".join(f'"{n}"' for n in data.column_names)
        raw.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {view}')
    finally:
        raw.unregister(view)


class _Float8Array(bytes):
    """A float8[] value already in PostgreSQL's binary array format."""


class _Float8ArrayDumper(Dumper):
    """Hands a pre-encoded float8[] to COPY as it is."""

    format = Format.BINARY
    oid = 1022  # float8[]

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def float8_array(values: pa.Array) -> _Float8Array:
    """A float64 Arrow array (nulls allowed) in PostgreSQL's binary array format."""
    n, nulls = len(values), values.null_count
    if n == 0:
        return _Float8Array(struct.pack(">iii", 0, 0, _FLOAT8_OID))
    items = np.empty(n, dtype=[("len", ">i4"), ("value", ">f8")])
    items["len"] = 8
    items["value"] = values.to_numpy(zero_copy_only=False)
    head = struct.pack(">iiiii", 1, int(nulls > 0), _FLOAT8_OID, n, 1)
    if not nulls:
        return _Float8Array(head + items.tobytes())
    missing = values.is_null().to_numpy(zero_copy_only=False)
    items["len"][missing] = -1
    keep = np.ones((n, items.itemsize), dtype=bool)
    keep[missing, 4:] = False  # a NULL element is its length (-1) alone
    return _Float8Array(head + items.view(np.uint8).reshape(n, items.itemsize)[keep].tobytes())


def _python_column(column: pa.ChunkedArray, pg_type: str) -> list[Any]:
    """An Arrow column as the Python values COPY writes; float8[] pre-encoded."""
    if pg_type != "float8[]":
        values: list[Any] = column.to_pylist()
        return values
    return [None if not cell.is_valid else float8_array(cell.values) for cell in column]


def _postgres_copy(conn: sa.Connection, table: sa.Table, data: pa.Table) -> None:
    raw = driver_connection(conn)
    names = data.column_names
    types = [_types(table.c[name].type)[1] for name in names]
    values = [_python_column(data.column(name), pg_type) for name, pg_type in zip(names, types, strict=True)]
    quoted = ", ".join(f'"{n}"' for n in names)
    with raw.cursor() as cursor:
        cursor.adapters.register_dumper(None, _Float8ArrayDumper)
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types(types)
            for row in zip(*values, strict=True):
                copy.write_row(row)


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: Columns | pa.Table) -> int:
    """Insert equally long columns (or an Arrow table) into ``table`` in the caller's transaction; the row count."""
    if not isinstance(columns, pa.Table):
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns of unequal length: {sorted(lengths)}")
    data = arrow_table(table, columns)
    if data.num_rows == 0:
        return 0
    dialect = conn.dialect.name
    if dialect == "duckdb":
        _duckdb_insert(conn, table, data)
    elif dialect == "postgresql":
        _postgres_copy(conn, table, data)
    else:
        conn.execute(table.insert(), data.to_pylist())
    return int(data.num_rows)
