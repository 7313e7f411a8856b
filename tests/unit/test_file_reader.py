"""Dataset files as environments: Parquet (pyarrow, read when compared) and text formats (DuckDB) agree."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from envparity.collector.store.file_reader import read_file


@pytest.fixture
def written(tmp_path: Path) -> Path:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT i, "
        "CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.5 END AS x, "
        "CASE WHEN i % 5 = 0 THEN NULL ELSE i % 3 END::INTEGER AS k, "
        "CASE WHEN i % 11 = 0 THEN NULL ELSE ['a', 'b', 'c'][i % 3 + 1] END AS cat, "
        "i % 2 = 0 AS flag "
        "FROM range(1000) r(i)"
    )
    for fmt, suffix in (("parquet", "parquet"), ("csv", "csv"), ("json", "jsonl")):
        options = "(FORMAT parquet)" if fmt == "parquet" else "(HEADER)" if fmt == "csv" else "(FORMAT json)"
        con.execute(f"COPY t TO '{tmp_path / f'data.{suffix}'}' {options}")
    con.close()
    return tmp_path


def test_formats_read_the_same_columns(written: Path) -> None:
    envs = {suffix: read_file(written / f"data.{suffix}") for suffix in ("parquet", "csv", "jsonl")}
    parquet = envs["parquet"]
    assert parquet.samples == 1000
    assert {n: f.kind for n, f in parquet.features.items()} == {
        "i": "numeric",
        "x": "numeric",
        "k": "numeric",
        "cat": "categorical",
        "flag": "categorical",
    }
    assert parquet.features["x"].numeric is None  # read when compared, not held
    x = parquet.features["x"].numbers()
    assert np.isnan(x).sum() == 143 and x[3] == 1.5 and x.flags.writeable
    for other in ("csv", "jsonl"):
        env = envs[other]
        for name in ("i", "x", "k"):
            np.testing.assert_array_equal(env.features[name].numbers(), parquet.features[name].numbers())
        assert env.features["cat"].categories == parquet.features["cat"].categories
        assert env.features["flag"].categories == parquet.features["flag"].categories
    assert parquet.features["cat"].categories[:3] == [None, "b", "c"]
    assert parquet.features["flag"].categories[:2] == ["true", "false"]


def test_unreadable_parquet_is_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match="cannot read"):
        read_file(broken)
