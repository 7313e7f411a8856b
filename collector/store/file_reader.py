"""Reading a dataset file (CSV, Parquet or JSON lines) as an environment, column by column, and comparing two.

Numeric columns become numeric features; dates and timestamps too, as seconds
since 1970 (UTC), so that time is compared as time (distribution and range), not
as all-distinct categories; text and boolean columns become categorical ones. A
column without any value is ``empty`` whatever type its file gave it, and a column
of a type that is not compared (lists, structs, maps, binary) is ``unsupported``:
the evaluation notes it and goes on. ``--prediction`` and ``--label`` name the
prediction and outcome columns, which must hold numbers.

Values come as NumPy arrays one column at a time, never row by row in Python:
Parquet through pyarrow, each numeric feature read only when the engine compares
it (so a large file is in memory a column at a time); text formats parsed once by
DuckDB into a temporary table, then fetched column by column. CSV cells that
pandas reads as missing (``NA``, ``NULL``, ``N/A``, ``nan``, ...) are missing here
too, so they cannot turn a numeric column into text; ``inf`` and ``-inf`` are
numbers, outside any finite baseline's range. The index pandas writes into a
Parquet file (``__index_level_0__``) is not a feature.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn, Kind, Outcomes, prediction_class

if TYPE_CHECKING:
    from envparity.collector.parity.evaluation import Evaluation
    from envparity.collector.parity.model import Thresholds

_PARQUET = (".parquet", ".pq")
_TEXT_READERS = {
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
    ".json": "read_json_auto",
}
# pandas' default ``na_values`` of ``read_csv``
PANDAS_NULLS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
PANDAS_INDEX = "__index_level_0__"


class _Columns(Protocol):
    columns: list[str]
    rows: int
    lazy: bool  # whether numbers can be read again later (the source stays readable)

    def kind(self, column: str) -> Kind: ...
    def type_name(self, column: str) -> str: ...
    def numbers(self, column: str) -> np.ndarray: ...
    def texts(self, column: str) -> list[str | None]: ...
    def close(self) -> None: ...


def _pandas_index(meta: Any) -> set[str]:
    """The index columns pandas wrote into a Parquet file (``df.to_parquet()``), from its schema metadata."""
    raw = (meta.schema.to_arrow_schema().metadata or {}).get(b"pandas")
    named = json.loads(raw).get("index_columns", []) if raw else []
    return {PANDAS_INDEX, *(name for name in named if isinstance(name, str))}


class _ParquetColumns:
    """A Parquet file's columns through pyarrow; each read opens the file for that column alone."""

    lazy = True

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa, self._pq, self.path = pa, pq, path
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
        self.rows = meta.num_rows
        index = _pandas_index(meta)
        self._types = {f.name: f.type for f in meta.schema.to_arrow_schema() if f.name not in index}
        self._nulls = _null_counts(meta)
        self.columns = list(self._types)

    def kind(self, column: str) -> Kind:
        t, types = self._types[column], self._pa.types
        if types.is_null(t) or (self.rows and self._nulls.get(column) == self.rows):
            return "empty"
        if types.is_integer(t) or types.is_floating(t) or types.is_decimal(t) or types.is_temporal(t):
            return "unsupported" if types.is_time(t) or types.is_duration(t) else "numeric"
        if types.is_string(t) or types.is_large_string(t) or types.is_boolean(t) or types.is_dictionary(t):
            return "categorical"
        return "unsupported"

    def type_name(self, column: str) -> str:
        return str(self._types[column])

    def _read(self, column: str) -> Any:
        # one thread per read: the engine reads several columns at once, and pyarrow's own
        # thread pool costs three times the read itself for a single column (22 ms vs 7 ms at 1M rows)
        return self._pq.ParquetFile(self.path, memory_map=True).read(columns=[column], use_threads=False).column(0)

    def numbers(self, column: str) -> np.ndarray:
        """A fresh, writable float64 array (NaN for nulls; times in seconds): the engine may sort it in place."""
        pa, values = self._pa, self._read(column)
        scale = 1.0
        if pa.types.is_date(values.type):
            values = values.cast(pa.timestamp("ms"))
        if pa.types.is_timestamp(values.type):
            scale = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[values.type.unit]
            values = values.cast(pa.int64())
        # int64 beyond 2^53 has no exact float64: rounded, as any comparison of its distribution allows
        values = values.cast(pa.float64(), safe=False)
        out = np.empty(len(values))
        start = 0
        for chunk in values.chunks:
            out[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
        return out / scale if scale != 1.0 else out

    def texts(self, column: str) -> list[str | None]:
        values: list[str | None] = self._read(column).cast(self._pa.string()).to_pylist()
        return values

    def close(self) -> None:
        pass


def _null_counts(meta: Any) -> dict[str, int]:
    """Nulls per top-level column from the row groups' statistics, where every row group has them."""
    counts: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            stats = chunk.statistics
            name = chunk.path_in_schema
            if stats is None or not stats.has_null_count:
                counts[name] = -1
            elif counts.get(name, 0) >= 0:
                counts[name] = counts.get(name, 0) + stats.null_count
    return counts


_DUCKDB_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)
_DUCKDB_NESTED = ("STRUCT", "MAP", "UNION", "BLOB", "BIT")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}"


def quoted(column: str) -> str:
    """A column name as a SQL identifier, whatever it holds (a ``"`` is doubled)."""
    return '"' + column.replace('"', '""') + '"'


class _TextColumns:
    """A CSV or JSON-lines file parsed once by DuckDB into a temporary table."""

    lazy = False

    def __init__(self, path: Path, reader: str) -> None:
        import duckdb

        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")  # timestamps without an offset are UTC, on every machine
        options = ", nullstr = ?" if reader == "read_csv_auto" else ""
        parameters = [str(path), list(PANDAS_NULLS)] if options else [str(path)]
        try:
            self._con.execute(f"CREATE TEMP TABLE source AS SELECT * FROM {reader}(?{options})", parameters)
        except duckdb.Error as exc:
            self._con.close()
            raise ValueError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
        rel = self._rel = self._con.table("source")
        self._types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
        self.columns = list(rel.columns)
        self.rows = len(rel)
        self._times: set[str] = set()  # columns whose every value is a time
        self._kinds = self._classify()

    def _classify(self) -> dict[str, Kind]:
        """Every column's kind, from its type and, in one query, its counts of values, of times and of numbers.

        Text whose every value is an ISO time is time, and text whose every value is a number is
        numeric: DuckDB's sniffer decides from the first rows, which may all be ``inf``.
        """
        if not self.columns:
            return {}
        cells = []
        for column in self.columns:
            c = quoted(column)
            number = f"TRY_CAST({c} AS DOUBLE)" if self._types[column] == "VARCHAR" else "NULL"
            cells += [f"count({c})", f"count({self._time(c, column)})", f"count({number})"]
        (counts,) = self._con.execute(f"SELECT {', '.join(cells)} FROM source").fetchall()
        kinds: dict[str, Kind] = {}
        for i, column in enumerate(self.columns):
            present, times, numbers = counts[3 * i : 3 * i + 3]
            t = self._types[column]
            if present == 0:
                kinds[column] = "empty"
            elif times == present:
                kinds[column] = "numeric"
                self._times.add(column)
            elif t.startswith(_DUCKDB_NUMERIC) or (t == "VARCHAR" and numbers == present):
                kinds[column] = "numeric"
            elif t.endswith("]") or t.startswith(_DUCKDB_NESTED):
                kinds[column] = "unsupported"
            else:
                kinds[column] = "categorical"
        return kinds

    def _time(self, sql: str, column: str) -> str:
        """SQL for a column's values as seconds since 1970 where they are times (NULL elsewhere)."""
        t = self._types[column]
        if t.startswith(("DATE", "TIMESTAMP")):
            return f"epoch(CAST({sql} AS TIMESTAMPTZ))"
        if t == "VARCHAR":  # ISO dates and timestamps the sniffer left as text (mixed precisions, offsets)
            return f"CASE WHEN regexp_matches({sql}, '{_ISO_DATE}') THEN epoch(TRY_CAST({sql} AS TIMESTAMPTZ)) END"
        return "NULL"

    def kind(self, column: str) -> Kind:
        return self._kinds[column]

    def type_name(self, column: str) -> str:
        return self._types[column]

    def numbers(self, column: str) -> np.ndarray:
        c = quoted(column)
        sql = self._time(c, column) if column in self._times else f"TRY_CAST({c} AS DOUBLE)"
        values = next(iter(self._rel.select(sql).fetchnumpy().values()))
        return np.ma.filled(values, np.nan) if np.ma.isMaskedArray(values) else np.asarray(values, dtype=float)

    def texts(self, column: str) -> list[str | None]:
        table = self._rel.select(f"CAST({quoted(column)} AS VARCHAR)").to_arrow_table()
        values: list[str | None] = table.column(0).to_pylist()
        return values

    def close(self) -> None:
        self._con.close()


def _open(path: Path) -> _Columns:
    suffix = path.suffix.lower()
    if suffix not in _PARQUET and suffix not in _TEXT_READERS:
        raise ValueError(f"{path}: unknown file type; use .csv, .parquet or .jsonl")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return _ParquetColumns(path) if suffix in _PARQUET else _TextColumns(path, _TEXT_READERS[suffix])


def _feature(source: _Columns, column: str) -> FeatureColumn:
    kind = source.kind(column)
    if kind in ("empty", "unsupported"):
        return FeatureColumn(kind, n_total=source.rows, note=source.type_name(column))
    if kind == "categorical":
        texts = source.texts(column)
        if all(v is None for v in texts):
            return FeatureColumn("empty", n_total=source.rows)
        return FeatureColumn("categorical", categories=texts, n_total=source.rows)
    if source.lazy:
        return FeatureColumn("numeric", load=partial(source.numbers, column), n_total=source.rows)
    return FeatureColumn("numeric", numeric=source.numbers(column), n_total=source.rows)


def _numbers(source: _Columns, path: Path, column: str, option: str) -> np.ndarray:
    """A column named by ``--prediction`` or ``--label``: numbers, or bad input naming it."""
    if source.kind(column) not in ("numeric", "empty"):
        raise ValueError(f"{path}: {option} column {column!r} is {source.type_name(column)}, not numbers")
    return source.numbers(column)


def _check_named(source: _Columns, path: Path, features: list[str] | None, named: list[str | None]) -> None:
    """Every column named on the command line exists, and a feature named is of a type that is compared."""
    for column in [*(features or []), *named]:
        if column is not None and column not in source.columns:
            raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(source.columns)})")
    for column in features or []:
        if source.kind(column) == "unsupported":
            raise ValueError(f"{path}: column {column!r} is {source.type_name(column)}, which is not compared")


def read_file(
    path: Path,
    features: list[str] | None = None,
    prediction: str | None = None,
    label: str | None = None,
    name: str | None = None,
) -> EnvironmentData:
    """An environment from one file; every column but the prediction and the label is a feature by default."""
    source = _open(path)
    try:
        _check_named(source, path, features, [prediction, label])
        wanted = features or [c for c in source.columns if c not in (prediction, label)]
        data = EnvironmentData(name=name or path.stem, samples=source.rows)
        data.features = {column: _feature(source, column) for column in wanted}
        if prediction is not None:
            pred = data.predictions = _numbers(source, path, prediction, "--prediction")
            if label is not None:
                actual = _numbers(source, path, label, "--label")
                keep = ~np.isnan(pred) & ~np.isnan(actual)
                data.outcomes = Outcomes(prediction_class(pred[keep]), np.rint(actual[keep]).astype(int))
    finally:
        source.close()
    return data


def compare_files(
    baseline: Path,
    target: Path,
    thresholds: Thresholds,
    features: list[str] | None = None,
    prediction: str | None = None,
    label: str | None = None,
) -> Evaluation:
    """``envparity compare`` in process: the evaluation of one dataset file against another."""
    from envparity.collector.parity.engine import evaluate

    base = read_file(baseline, features, prediction, label, name=str(baseline))
    other = read_file(target, features, prediction, label, name=str(target))
    return evaluate("files", base, other, thresholds)
