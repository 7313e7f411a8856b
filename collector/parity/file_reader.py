"""Reading a dataset file (CSV, Parquet or JSON lines) as an environment, column by column with DuckDB.

Numeric columns become numeric features, text and boolean columns categorical
ones; ``--prediction`` and ``--label`` name the prediction and outcome columns.
Values are fetched as NumPy arrays one column at a time (Parquet straight from the
file, text formats from a table parsed once), never row by row in Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn, Outcomes, prediction_class

_READERS = {
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
    ".json": "read_json_auto",
}
_NUMERIC = (
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
)


def _relation(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyRelation:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unknown file type; use .csv, .parquet or .jsonl")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return con.sql(f"SELECT * FROM {reader}(?)", params=[str(path)])  # type: ignore[call-arg]
    except duckdb.Error as exc:
        raise ValueError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC) or dtype.startswith("DECIMAL")


def _numbers(rel: duckdb.DuckDBPyRelation, column: str) -> np.ndarray:
    """One column as float64 with NaN for missing: one query per column keeps one column in memory at a time."""
    values = next(iter(rel.select(f'CAST("{column}" AS DOUBLE)').fetchnumpy().values()))
    return np.ma.filled(values, np.nan) if np.ma.isMaskedArray(values) else np.asarray(values, dtype=float)


def read_file(
    path: Path,
    features: list[str] | None = None,
    prediction: str | None = None,
    label: str | None = None,
    name: str | None = None,
) -> EnvironmentData:
    """An environment from one file; every column but the prediction and the label is a feature by default."""
    con = duckdb.connect()
    rel = _relation(con, path)
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    for column in [*(features or []), prediction, label]:
        if column is not None and column not in types:
            raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(rel.columns)})")
    wanted = features or [c for c in rel.columns if c not in (prediction, label)]
    if path.suffix.lower() not in (".parquet", ".pq"):  # text formats: parse once, then read columns
        con.execute("CREATE TEMP TABLE source AS SELECT * FROM rel")
        rel = con.table("source")
    data = EnvironmentData(name=name or path.stem, samples=len(rel))
    for column in wanted:
        if _is_numeric(types[column]):
            values = _numbers(rel, column)
            data.features[column] = FeatureColumn("numeric", numeric=values, n_total=len(values))
        else:
            text = rel.select(f'CAST("{column}" AS VARCHAR)').fetchnumpy()
            cats = [
                None if v is None or v is np.ma.masked else str(v)
                for v in np.ma.filled(next(iter(text.values())), None)
            ]
            data.features[column] = FeatureColumn("categorical", categories=cats, n_total=len(cats))
    if prediction is not None:
        data.predictions = _numbers(rel, prediction)
    if prediction is not None and label is not None:
        pred, actual = data.predictions, _numbers(rel, label)
        keep = ~np.isnan(pred) & ~np.isnan(actual)
        data.outcomes = Outcomes(prediction_class(pred[keep]), np.rint(actual[keep]).astype(int))
    con.close()
    return data
