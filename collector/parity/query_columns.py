"""Running the store's read queries for their columns, the same way on every database.

DuckDB answers with Arrow columns (a million values never become Python objects);
other databases with plain lists. List parameters (``environment IN :environments``)
are expanded to one placeholder per item, which every driver understands.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import sqlalchemy as sa


def bind(sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """List parameters (``IN :environments``) expanded to one placeholder per item, for every driver."""
    bound: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, list | tuple):
            names = [f"{key}_{i}" for i in range(len(value))]
            sql = re.sub(rf":{key}\b", "(" + ", ".join(f":{n}" for n in names) + ")", sql)
            bound.update(zip(names, value, strict=True))
        else:
            bound[key] = value
    return sql, bound


def rows(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[sa.Row]:
    sql, bound = bind(sql, params)
    return list(conn.execute(sa.text(sql), bound).all())


def columns(conn: sa.Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """A query's result as columns: Arrow on DuckDB, plain lists elsewhere."""
    sql, bound = bind(sql, params)
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection
        table = raw.sql(re.sub(r":(\w+)", r"$\1", sql), params=bound).to_arrow_table()  # type: ignore[union-attr]
        return {name: table.column(name) for name in table.column_names}
    result = conn.execute(sa.text(sql), bound)
    rows = result.all()
    return {name: [r[i] for r in rows] for i, name in enumerate(result.keys())}


def split(cols: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """Columns with an ``environment`` column, split into each environment's columns."""
    env = cols["environment"]
    if hasattr(env, "to_numpy"):  # Arrow
        import pyarrow as pa
        import pyarrow.compute as pc

        masks = {n: pc.equal(env, pa.scalar(n)) for n in names}  # a scalar: a str would be converted on each call
        return {n: {k: v.filter(masks[n]) for k, v in cols.items()} for n in names}
    rows: dict[str, list[int]] = {n: [] for n in names}
    for i, e in enumerate(env):
        rows[e].append(i)
    return {n: {k: [v[i] for i in rows[n]] for k, v in cols.items()} for n in names}


def numbers(column: Any) -> np.ndarray:
    """A column of numbers (NULL as NaN) as a float array."""
    if hasattr(column, "to_numpy"):
        return column.to_numpy(zero_copy_only=False).astype(float, copy=False)
    return np.array([np.nan if v is None else v for v in column], dtype=float)


def texts(column: Any) -> list[Any]:
    """A column as a Python list."""
    return column.to_pylist() if hasattr(column, "to_pylist") else list(column)
