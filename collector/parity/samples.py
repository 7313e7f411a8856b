"""One side of a comparison sorted once, and what is read off sorted values: order statistics, quantiles, bin counts.

Missing values (NaN) are not part of any distribution; they are counted by the
null rate. Infinite values stay in the sorted values, at the ends; ``finite`` is
the view without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class SortedSample:
    """One side's present values (NaN removed), sorted once; infinities sit at the ends."""

    values: np.ndarray
    n_total: int  # values including the missing ones

    @property
    def finite(self) -> np.ndarray:
        """The finite values: a view."""
        x = self.values
        return x[np.searchsorted(x, -np.inf, side="right") : np.searchsorted(x, np.inf, side="left")]

    @property
    def null_rate(self) -> float:
        return 1 - self.values.size / max(self.n_total, 1)


def prepare(x: np.ndarray, in_place: bool = False) -> SortedSample:
    """A column of numbers (NaN = missing) as a ``SortedSample``; ``in_place`` sorts ``x`` itself (saves a copy)."""
    x = np.asarray(x, dtype=float)
    missing = np.isnan(x)
    if missing.any():
        present, in_place = x[~missing], True  # already a copy
    else:
        present = x
    if in_place and present.flags.writeable:
        present.sort()
        return SortedSample(present, int(x.size))
    return SortedSample(np.sort(present), int(x.size))


def order_statistics(sorted_values: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced order statistics (the mid-points of equal rank blocks) of sorted values."""
    n = sorted_values.size
    if n <= limit:
        return sorted_values
    if n % limit == 0:  # blocks of equal length: a strided view
        step = n // limit
        return sorted_values[step // 2 :: step]
    picked: np.ndarray = sorted_values[_mid_ranks(n, limit)]
    return picked


@lru_cache(maxsize=16)
def _mid_ranks(n: int, limit: int) -> np.ndarray:
    return ((np.arange(limit) + 0.5) * (n / limit)).astype(np.intp)


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std along the last axis, as ``np.mean`` and ``np.std`` give them, in two passes."""
    mean = np.mean(x, axis=-1)
    centred = x - mean[..., None]
    return mean, np.sqrt(np.einsum("...i,...i->...", centred, centred) / x.shape[-1])


def distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of sorted values, in order."""
    if sorted_values.size == 0:
        return sorted_values
    kept: np.ndarray = sorted_values[np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))]
    return kept


def sorted_quantiles(sorted_values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(values, q, axis=-1)`` (its default, linear method) read off values sorted along the last axis."""
    n = sorted_values.shape[-1]
    h = (n - 1) * q
    lo = np.floor(h).astype(np.intp)
    below, above = sorted_values[..., lo], sorted_values[..., np.minimum(lo + 1, n - 1)]
    quantiles: np.ndarray = below + (h - lo) * (above - below)
    return quantiles


def bin_counts(sorted_values: np.ndarray, inner_edges: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """Values per bin between consecutive inner edges, open-ended outer bins, by binary search of sorted values.

    ``side="right"``: bins closed on the right (a value equal to an edge counts below it); ``"left"``: on the left.
    """
    bounds = np.empty(inner_edges.size + 2, dtype=np.intp)
    bounds[0], bounds[-1] = 0, sorted_values.size
    bounds[1:-1] = np.searchsorted(sorted_values, inner_edges, side=side)
    return bounds[1:] - bounds[:-1]
