"""False alarms and detection on real data: random halves of datasets that ship in pip packages, and real shifts.

Random halves of one dataset come from one population, so an evaluation of one
half against the other should fail rarely: at most 1 % of them, over thirteen
datasets (scikit-learn, statsmodels, vega_datasets, palmerpenguins, R's datasets
through pydataset) at three sizes each (all rows, half, a fifth), written as CSV
(missing values as the package's R origin writes them: ``NA``) or as Parquet
(with the pandas index ``df[mask].to_parquet()`` keeps). Real shifts, split
along a real variable (island, origin, model year, cultivar, month, cut), must
fail on the features that differ. Everything goes through ``envparity
compare``'s in-process API (``compare_files``): the file reader as well as the
statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from real_datasets import BY_NAME, REAL, Dataset

from envparity.collector.parity.evaluation import Evaluation
from envparity.collector.parity.model import Thresholds
from envparity.collector.store.file_reader import compare_files

FRACTIONS = (1.0, 0.5, 0.2)
REPEATS = 8  # random splits per dataset and size: 13 x 3 x 8 = 312 evaluations
MAX_FAILING = 0.01


def _write(frame: pd.DataFrame, path: Path, dataset: Dataset) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, na_rep=dataset.na_rep)
    else:
        frame.to_parquet(path)  # with the index of the rows kept: __index_level_0__
    return path


def _compare(base: pd.DataFrame, target: pd.DataFrame, dataset: Dataset, folder: Path, suffix: str) -> Evaluation:
    return compare_files(
        _write(base, folder / f"baseline.{suffix}", dataset),
        _write(target, folder / f"target.{suffix}", dataset),
        Thresholds(),
    )


def _failing(result: Evaluation) -> list[str]:
    return [f"{c.check} {c.subject}: {c.detail}" for c in result.checks if c.status == "fail"]


def test_random_halves_of_real_datasets_rarely_fail(tmp_path: Path) -> None:
    evaluations, failed = 0, []
    for d, dataset in enumerate(REAL):
        frame = dataset.load()
        for f, fraction in enumerate(FRACTIONS):
            for repeat in range(REPEATS):
                rng = np.random.default_rng([d, f, repeat])
                rows = frame.sample(frac=fraction, random_state=rng) if fraction < 1 else frame
                half = rng.random(len(rows)) < 0.5
                suffix = "csv" if repeat % 2 == 0 else "parquet"
                result = _compare(rows[half], rows[~half], dataset, tmp_path, suffix)
                evaluations += 1
                if result.status == "fail":
                    failed.append((dataset.name, len(rows), suffix, _failing(result)))
    assert evaluations == len(REAL) * len(FRACTIONS) * REPEATS
    assert len(failed) <= MAX_FAILING * evaluations, f"{len(failed)} of {evaluations} failed: {failed}"


Split = Callable[[pd.DataFrame], pd.Series]


def _year(column: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda frame: frame[column].dt.year


# dataset, the variable split along, the baseline's and the target's values of it, features that must fail
SHIFTS: list[tuple[str, Split, tuple[object, ...], tuple[object, ...], set[str]]] = [
    (
        "palmerpenguins",
        lambda f: f["island"],
        ("Biscoe",),
        ("Dream",),
        {"species", "flipper_length_mm", "body_mass_g", "bill_depth_mm"},
    ),
    (
        "vega cars",
        lambda f: f["Origin"],
        ("USA",),
        ("Japan",),
        {"Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Miles_per_Gallon"},
    ),
    ("vega cars", _year("Year"), (1970, 1971, 1972, 1973), (1979, 1980, 1981, 1982), {"Year", "Miles_per_Gallon"}),
    ("sklearn wine", lambda f: f["target"], (0,), (1,), {"alcohol", "proline", "color_intensity", "flavanoids"}),
    ("R airquality", lambda f: f["Month"], (5, 6), (7, 8), {"Ozone", "Temp"}),
    ("vega seattle_weather", _year("date"), (2012,), (2015,), {"date"}),
    ("statsmodels macrodata", lambda f: f["year"], tuple(range(1959, 1975)), tuple(range(1995, 2010)), {"realgdp"}),
    ("R diamonds", lambda f: f["cut"], ("Ideal",), ("Fair",), {"carat", "price", "depth", "table"}),
]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("name", "split", "baseline", "target", "differ"),
    SHIFTS,
    ids=[f"{s[0]}-{'-'.join(map(str, s[3][:1]))}" for s in SHIFTS],
)
def test_real_shifts_fail_on_the_features_that_differ(
    tmp_path: Path, suffix: str, name: str, split: Split, baseline: tuple, target: tuple, differ: set[str]
) -> None:
    dataset = BY_NAME[name]
    frame = dataset.load()
    along = split(frame)
    result = _compare(frame[along.isin(baseline)], frame[along.isin(target)], dataset, tmp_path, suffix)
    failing = {c.subject for c in result.checks if c.status == "fail"}
    assert result.status == "fail" and differ <= failing, (differ - failing, _failing(result))
