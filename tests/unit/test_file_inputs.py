"""Dataset files as people write them: pandas' null tokens, dates, odd column names, nested and huge values.

Each test reproduces a defect of issue 15 in ``envparity compare``: a file that
read wrong (a numeric column turned text, timestamps compared as categories, the
pandas index compared as a feature, an all-null column called retyped) or that
crashed with a traceback a CI gate reads as drift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from envparity.collector.parity.evaluation import Evaluation
from envparity.collector.parity.model import Thresholds
from envparity.collector.store.file_reader import compare_files, read_file


def _failing(result: Evaluation) -> set[tuple[str, str]]:
    return {(c.check, c.subject) for c in result.checks if c.status == "fail"}


def _halves(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame({"x": rng.normal(size=2 * n), "k": rng.choice(["a", "b", "c"], 2 * n)})
    return frame.iloc[:n], frame.iloc[n:]


@pytest.mark.parametrize("token", ["NA", "NULL", "N/A", "nan", ""])
def test_pandas_null_tokens_are_missing_values_not_text(tmp_path: Path, token: str) -> None:
    """R's write.csv writes NA: a +1 std shift with NA on both sides passed, with NA on one side it was a retype."""
    rng = np.random.default_rng(1)
    base, target = _halves(rng, 1_000)
    target = target.assign(x=target["x"] + 1.0)
    for frame, name in ((base, "base.csv"), (target, "target.csv")):
        frame.assign(x=frame["x"].astype(object).where(rng.random(len(frame)) > 0.1, token)).to_csv(
            tmp_path / name, index=False
        )
    assert read_file(tmp_path / "base.csv").features["x"].kind == "numeric"
    shifted = compare_files(tmp_path / "base.csv", tmp_path / "target.csv", Thresholds())
    assert ("wasserstein", "x") in _failing(shifted) and not any(check == "schema" for check, _ in _failing(shifted))
    base.to_csv(tmp_path / "clean.csv", index=False)  # no token on this side
    one_side = compare_files(tmp_path / "clean.csv", tmp_path / "base.csv", Thresholds())
    assert not any(check == "schema" for check, _ in _failing(one_side))


def test_infinities_are_numbers_outside_the_range(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    base, target = _halves(rng, 1_000)
    base.to_csv(tmp_path / "base.csv", index=False)
    target = target.astype({"x": object})
    target.iloc[:100, 0] = ["inf", "-inf"] * 50
    target.to_csv(tmp_path / "target.csv", index=False)
    result = compare_files(tmp_path / "base.csv", tmp_path / "target.csv", Thresholds())
    range_check = next(c for c in result.checks if c.check == "range" and c.subject == "x")
    assert range_check.status == "fail" and "50 above, 100 of them infinite" in range_check.detail


def _times(start: str, n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, 30, n), unit="D"))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_dates_and_timestamps_are_compared_as_time(tmp_path: Path, suffix: str) -> None:
    """All-distinct timestamps as categories gave chi-square ~ N on N-1 degrees of freedom: 60 days passed."""
    rng = np.random.default_rng(3)
    frames = {}
    for name, start in (("base", "2024-01-01"), ("same", "2024-01-01"), ("later", "2024-03-01")):
        stamps = _times(start, 500, rng)
        frames[name] = pd.DataFrame({"seen_at": stamps, "day": stamps.dt.date, "x": rng.normal(size=500)})
    for name, frame in frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False) if suffix == "csv" else frame.to_parquet(
            tmp_path / f"{name}.parquet"
        )
    base = tmp_path / f"base.{suffix}"
    read = read_file(base)
    assert read.features["seen_at"].kind == read.features["day"].kind == "numeric"
    seconds = read.features["seen_at"].numbers()
    expected = frames["base"]["seen_at"].astype("int64").to_numpy() / 1e9  # pandas keeps nanoseconds
    np.testing.assert_allclose(seconds, expected, rtol=0, atol=1e-3)
    assert not _failing(compare_files(base, tmp_path / f"same.{suffix}", Thresholds()))
    later = _failing(compare_files(base, tmp_path / f"later.{suffix}", Thresholds()))
    assert {("wasserstein", "seen_at"), ("range", "seen_at"), ("wasserstein", "day")} <= later
    assert not any(subject == "x" for _, subject in later)


def test_iso_timestamps_with_offsets_or_mixed_precision_are_times(tmp_path: Path) -> None:
    rows = ["2024-01-01", "2024-01-02T10:00:00", "2024-01-03T10:00:00+02:00", "NA", "2024-01-05 08:30:00.250"]
    (tmp_path / "t.csv").write_text("when\n" + "\n".join(rows) + "\n")
    feature = read_file(tmp_path / "t.csv").features["when"]
    assert feature.kind == "numeric"
    expected = [1704067200.0, 1704189600.0, 1704268800.0, np.nan, 1704443400.25]
    np.testing.assert_array_equal(feature.numbers(), expected)


def test_a_quote_in_a_column_name(tmp_path: Path) -> None:
    """The SQL was built with an f-string: a `"` in a header crashed with exit 1."""
    frame = pd.DataFrame({'size "in"': np.arange(100.0), 'it"s': ["a", "b"] * 50})
    frame.to_csv(tmp_path / "a.csv", index=False)
    result = compare_files(tmp_path / "a.csv", tmp_path / "a.csv", Thresholds())
    assert result.status == "ok" and {'size "in"', 'it"s'} <= {c.subject for c in result.checks}


def test_nested_columns_are_noted_not_fatal(tmp_path: Path) -> None:
    table = pa.table(
        {
            "x": np.arange(100.0),
            "tags": [[1, 2]] * 100,
            "point": [{"lat": 1.0, "lon": 2.0}] * 100,
            "raw": [b"\x00\x01"] * 100,
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    result = compare_files(tmp_path / "a.parquet", tmp_path / "a.parquet", Thresholds())
    noted = {c.subject: c for c in result.checks if c.check == "schema"}
    assert set(noted) == {"tags", "point", "raw"} and result.status == "ok"
    assert noted["tags"].status == "insufficient_data" and "list<element: int64>" in noted["tags"].detail
    with pytest.raises(ValueError, match="column 'point' is struct<lat: double, lon: double>, which is not compared"):
        read_file(tmp_path / "a.parquet", features=["x", "point"])


def test_int64_beyond_2_to_the_53(tmp_path: Path) -> None:
    """A cast to float64 refused the value, and the whole compare exited 2 without naming the column."""
    ids = np.arange(1_000, dtype=np.int64) + 2**60
    pq.write_table(pa.table({"id": ids, "x": np.arange(1_000.0)}), tmp_path / "a.parquet")
    numbers = read_file(tmp_path / "a.parquet").features["id"].numbers()
    assert numbers.dtype == np.float64 and numbers[0] == float(2**60)
    assert compare_files(tmp_path / "a.parquet", tmp_path / "a.parquet", Thresholds()).status == "ok"


def test_the_pandas_index_is_not_a_feature(tmp_path: Path) -> None:
    """``df[mask].to_parquet()`` writes the kept row numbers: two random halves 'drifted' in them."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=2_000)})
    mask = rng.random(2_000) < 0.5
    frame[mask].to_parquet(tmp_path / "a.parquet")
    frame[~mask].to_parquet(tmp_path / "b.parquet")
    assert set(read_file(tmp_path / "a.parquet").features) == {"x"}
    assert compare_files(tmp_path / "a.parquet", tmp_path / "b.parquet", Thresholds()).status == "ok"


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_an_all_null_column_is_empty_not_retyped(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"x": np.arange(200.0), "later": np.arange(200.0)})
    blank = frame.assign(later=None)
    for name, data in (("a", frame), ("b", blank)):
        data.to_csv(tmp_path / f"{name}.{suffix}", index=False) if suffix == "csv" else data.to_parquet(
            tmp_path / f"{name}.{suffix}"
        )
    assert read_file(tmp_path / f"b.{suffix}").features["later"].kind == "empty"
    result = compare_files(tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}", Thresholds())
    assert _failing(result) == {("null_rate", "later")}  # the feature went missing; not "numeric but categorical"
    assert compare_files(tmp_path / f"b.{suffix}", tmp_path / f"b.{suffix}", Thresholds()).status == "ok"


def _one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envparity: error: "), result.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]


def test_bad_input_exits_2_with_one_line_naming_the_column(tmp_path: Path) -> None:
    pd.DataFrame({"x": np.arange(50.0), "label": ["yes", "no"] * 25}).to_csv(tmp_path / "a.csv", index=False)
    pq.write_table(pa.table({"x": np.arange(50.0), "tags": [[1]] * 50}), tmp_path / "n.parquet")
    a = str(tmp_path / "a.csv")
    _one_line_error(run_cli("compare", a, a, "--prediction", "label"), "--prediction column 'label' is", "not numbers")
    n = str(tmp_path / "n.parquet")
    _one_line_error(run_cli("compare", n, n, "--features", "tags"), "column 'tags'", "not compared")
    noted = run_cli("compare", n, n)
    assert noted.returncode == 0 and "tags" in noted.stdout and "not compared" in noted.stdout, noted.stderr
