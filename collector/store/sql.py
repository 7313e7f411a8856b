"""The SQL helpers the store's modules share: timestamps as stored, parameters, and reads as rows or columns.

Timestamps are stored as naive UTC on both backends (``naive_utc`` on the way in,
``as_utc`` on the way out). The readers' queries run the same way on every
database: DuckDB answers with Arrow columns (a million values never become Python
objects), other databases with plain lists. List parameters (``environment IN
:environments``) are expanded to one placeholder per item, which every driver
understands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

import numpy as np
import sqlalchemy as sa

Row: TypeAlias = sa.Row[*tuple[Any, ...]]  # a result row of any width


def naive_utc(value: datetime) -> datetime:
    """A timestamp as the store keeps it: UTC without a zone (a naive one is taken as UTC already)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def as_utc(value: datetime | None) -> datetime | None:
    """A stored timestamp with its zone, UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class Window:
    """What a reader reads: environments of one service from ``start`` (included) to ``end`` (excluded).

    ``strides`` thins an environment whose window holds more samples than an evaluation reads:
    one snapshot in ``stride`` is read, those whose sequence is a multiple of it (every agent's
    windows in turn, so the whole window is represented).
    """

    service: str
    environments: list[str]
    start: datetime
    end: datetime
    strides: Mapping[str, int] = field(default_factory=dict)

    def params(self, **extra: Any) -> dict[str, Any]:
        """The query parameters ``:service``, ``:environments``, ``:start`` and ``:end`` (times as stored), and more."""
        return {
            "service": self.service,
            "environments": self.environments,
            "start": naive_utc(self.start),
            "end": naive_utc(self.end),
            **extra,
        }

    def per_environment(self, values: Sequence[object], table: str = "") -> str:
        """SQL of the ``i``-th of ``values`` for a row of the ``i``-th environment (``:environments_i``, as ``bind``
        names the items of ``:environments``); ``table``: the alias before ``environment``."""
        when = " ".join(f"WHEN :environments_{i} THEN {value}" for i, value in enumerate(values))
        return f"(CASE {table}environment {when} END)"

    def environment_index(self) -> str:
        """SQL for each row's environment as its position in ``environments``."""
        return self.per_environment(range(len(self.environments)))

    def sampled(self, table: str = "") -> str:
        """SQL to append to a query's condition (``table``: the alias before ``sequence``) that keeps one snapshot
        in each environment's stride; empty when every snapshot is read."""
        strides = [int(self.strides.get(name, 1)) for name in self.environments]
        if all(stride == 1 for stride in strides):
            return ""
        return f" AND {table}sequence % {self.per_environment(strides, table)} = 0"


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


def driver_connection(conn: sa.Connection) -> Any:
    """The database driver's own connection under ``conn``: DuckDB's for Arrow, psycopg's for COPY."""
    return conn.connection.driver_connection


def rows(conn: sa.Connection, sql: str, params: dict[str, Any]) -> list[Row]:
    """A query's result as rows."""
    sql, bound = bind(sql, params)
    return list(conn.execute(sa.text(sql), bound).all())


def columns(conn: sa.Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """A query's result as columns: Arrow on DuckDB, plain lists elsewhere."""
    sql, bound = bind(sql, params)
    if conn.dialect.name == "duckdb":
        table = driver_connection(conn).sql(re.sub(r":(\w+)", r"$\1", sql), params=bound).to_arrow_table()
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
        values: np.ndarray = column.to_numpy(zero_copy_only=False).astype(float, copy=False)
        return values
    return np.array([np.nan if v is None else v for v in column], dtype=float)


def texts(column: Any) -> list[Any]:
    """A column as a Python list."""
    return column.to_pylist() if hasattr(column, "to_pylist") else list(column)
