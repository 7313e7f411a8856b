"""What the parity engine compares: one environment's data over a window, as columns.

An ``EnvironmentData`` holds per-feature columns (numbers with NaN for missing,
or category strings with None), predictions, confidences, the exact request
aggregates and outcomes joined to predictions. It is read from the store
(``store.environment_reader``) or from a file (``store.file_reader``); the engine
does not care which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from envparity.agent.wire import RequestAggregates

# "empty": no value present; "unsupported": a file column of a type not compared (lists, structs, ...)
Kind = Literal["numeric", "categorical", "mixed", "empty", "unsupported"]


@dataclass
class FeatureColumn:
    """One feature: numbers (NaN = missing) or categories (None = missing).

    Numbers are either held (``numeric``) or read when the feature is compared
    (``load``), so that a large file is in memory one column at a time. ``note``
    says why a column is not compared (its type, for ``unsupported``).
    """

    kind: Kind
    numeric: np.ndarray | None = None
    categories: list[str | None] | None = None
    n_total: int = 0
    load: Callable[[], np.ndarray] | None = None
    note: str = ""

    def numbers(self) -> np.ndarray | None:
        """The numbers, held or read now."""
        return self.numeric if self.numeric is not None or self.load is None else self.load()

    def present(self) -> int | None:
        """How many values are present (not missing); None when the values are not held (mixed, unsupported)."""
        if self.kind == "empty":
            return 0
        if self.kind == "categorical" and self.categories is not None:
            return sum(v is not None for v in self.categories)
        numbers = self.numbers() if self.kind == "numeric" else None
        return None if numbers is None else int(np.count_nonzero(~np.isnan(numbers)))

    @classmethod
    def from_values(cls, nums: np.ndarray, texts: list[str | None]) -> FeatureColumn:
        """Build from parallel numbers and texts as the store keeps them (a boolean is both 1/0 and true/false)."""
        n = len(texts)
        is_text = np.array([t is not None for t in texts], dtype=bool)
        has_num = bool(np.any(~np.isnan(nums) & ~is_text))
        has_text = bool(is_text.any())
        if has_num and has_text:
            return cls("mixed", n_total=n)
        if has_text:
            return cls("categorical", categories=list(texts), n_total=n)
        if has_num:
            return cls("numeric", numeric=np.asarray(nums, dtype=float), n_total=n)
        return cls("empty", n_total=n)


@dataclass
class Outcomes:
    """Predictions and outcomes of the same requests, for accuracy and friends."""

    predicted: np.ndarray  # 0/1
    actual: np.ndarray  # 0/1


@dataclass
class ShadowPairs:
    """Requests seen in both environments (shadow traffic), compared pairwise."""

    matched: int = 0
    agreeing: int = 0
    feature_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # feature -> (n, differ)


@dataclass
class GpuUsage:
    """GPU telemetry of an environment over the window."""

    gpus: int = 0
    mean_utilization: float | None = None
    peak_memory_used: float | None = None  # largest FB used / total seen
    lost: int = 0


@dataclass
class EnvironmentData:
    name: str
    features: dict[str, FeatureColumn] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    confidence: np.ndarray | None = None
    requests: RequestAggregates | None = None
    window_s: float = 0.0
    outcomes: Outcomes | None = None
    samples: int = 0  # in the window
    thinned_to: int | None = None  # the samples read and compared of a large window thinned (store only)
    gpu: GpuUsage | None = None
    request_ids: Any = None  # the samples' request ids (store only; Arrow or a list), to look for shadow traffic


def prediction_class(values: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """A score in [0, 1] as a 0/1 class; other numbers are taken as classes already."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() >= 0 and finite.max() <= 1 and not np.all(np.isin(finite, (0, 1))):
        classes: np.ndarray = (values >= threshold).astype(int)
        return classes
    rounded: np.ndarray = np.rint(values).astype(int)
    return rounded
