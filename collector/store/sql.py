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


def split(cols: dict[str, Any], count: int) -> dict[int, dict[str, Any]]:
    """Columns whose ``environment`` column holds an index below ``count``, split into each index's columns."""
    env = cols["environment"]
    if hasattr(env, "to_numpy"):  # Arrow
        import pyarrow as pa
        import pyarrow.compute as pc

        masks = {i: pc.equal(env, pa.scalar(i, env.type)) for i in range(count)}
        return {i: {k: v.filter(masks[i]) for k, v in cols.items()} for i in range(count)}
    rows: dict[int, list[int]] = {i: [] for i in range(count)}
    for r, i in enumerate(env):
        rows[i].append(r)
    return {i: {k: [v[r] for r in rows[i]] for k, v in cols.items()} for i in range(count)}


def numbers(column: Any) -> np.ndarray:
    """A column of numbers (NULL as NaN) as a float array."""
    if hasattr(column, "to_numpy"):
        return column.to_numpy(zero_copy_only=False).astype(float, copy=False)
    return np.array([np.nan if v is None else v for v in column], dtype=float)


def texts(column: Any) -> list[Any]:
    """A column as a Python list."""
    return column.to_pylist() if hasattr(column, "to_pylist") else list(column)
