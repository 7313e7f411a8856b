"""Recorded values made wire-safe, so that a window always seals and its snapshot always validates.

The wire format refuses what the store cannot hold (``envparity.agent.wire``): strings
longer than their column, NUL characters, lone surrogates, integers beyond 64 bits,
non-finite numbers, timestamps outside 2000 .. a day from now, more than
``MAX_FEATURES`` distinct feature names. An application may record any of these; a
``Cleaner`` turns each value into one the wire takes and counts, by reason, what it
changed or dropped:

* ``truncated``: a string cut to its column's length;
* ``nul``: NUL characters removed from a string;
* ``surrogate``: lone surrogates replaced by U+FFFD;
* ``non_finite``: NaN or an infinity, sent as null;
* ``out_of_range``: an integer beyond 64 bits or a latency that is negative or over
  ``MAX_LATENCY_S`` (sent as null), a timestamp outside the wire's range (sent as the
  time of the seal);
* ``feature_name``: a feature whose name the wire cannot carry (dropped);
* ``feature_limit``: a feature beyond ``MAX_FEATURES`` distinct names in a window (dropped);
* ``error_classes``: requests of error classes beyond the wire's bound, counted under ``other``;
* ``unreadable``: a sample whose values could not be read at all (dropped).

Cleaning happens when a window is sealed, off the serving path; only a request's
latency is checked when it is recorded, because it enters the exact counters then.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, SupportsFloat, SupportsIndex, get_args

from annotated_types import MaxLen

from envparity.agent.wire import (
    EARLIEST,
    INT64_MAX,
    MAX_CLOCK_SKEW,
    MAX_FEATURES,
    FeatureValue,
    Long,
    RequestAggregates,
    Short,
    Value,
)

MAX_LATENCY_S = 1e9  # a longer latency is a unit mistake; bounded, the window's latency sum stays finite
OTHER_ERRORS = "other"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _max_length(kind: object) -> int:
    """The length bound of a wire string type (``Short``, ``Long``, ...)."""
    return next(m.max_length for m in get_args(kind)[1].metadata if isinstance(m, MaxLen))


SHORT, LONG, VALUE = _max_length(Short), _max_length(Long), _max_length(Value)
MAX_ERROR_CLASSES = next(m.max_length for m in RequestAggregates.model_fields["errors"].metadata)


def to_float(value: object) -> float:
    """``float(value)`` for a value of any type; TypeError or ValueError when it is no number."""
    if isinstance(value, str | bytes | SupportsFloat | SupportsIndex):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not a number")


def latency_ok(value: object) -> bool:
    """True when ``value`` is a latency the exact counters can take (the serving path's only check)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_LATENCY_S


class FeatureNames:
    """The distinct feature names of one window, at most ``MAX_FEATURES``."""

    def __init__(self) -> None:
        self._names: set[str] = set()

    def admit(self, name: str) -> bool:
        if name in self._names:
            return True
        if len(self._names) >= MAX_FEATURES:
            return False
        self._names.add(name)
        return True


class Cleaner:
    """Wire-safe values from recorded ones; ``counts`` holds what was cleaned, by reason."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, reason: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n

    def text(self, value: str, limit: int) -> str:
        """The string without NUL, with lone surrogates replaced, cut to ``limit`` characters."""
        if "\x00" in value:
            value = value.replace("\x00", "")
            self.count("nul")
        if not value.isascii() and _SURROGATE.search(value):
            value = _SURROGATE.sub("\ufffd", value)
            self.count("surrogate")
        if len(value) > limit:
            value = value[:limit]
            self.count("truncated")
        return value

    def optional_text(self, value: object, limit: int) -> str | None:
        return None if value is None else self.text(value if isinstance(value, str) else str(value), limit)

    def finite(self, value: float) -> float | None:
        if math.isfinite(value):
            return value
        self.count("non_finite")
        return None

    def number(self, value: object) -> float | None:
        """A finite float, or None for what is no number (or not a finite one)."""
        try:
            return None if value is None else self.finite(to_float(value))
        except (TypeError, ValueError, OverflowError):
            return None

    def latency(self, value: object) -> float | None:
        seconds = self.number(value)
        if seconds is None or 0 <= seconds <= MAX_LATENCY_S:
            return seconds
        self.count("out_of_range")
        return None

    def value(self, value: object, limit: int) -> FeatureValue:
        """A feature value or prediction: numbers (numpy's too) as the wire holds them, anything else as text."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if -INT64_MAX <= value <= INT64_MAX:
                return value
            self.count("out_of_range")
            return None
        if isinstance(value, str):
            return self.text(value, limit)
        if isinstance(value, float):
            return self.finite(value)
        try:
            return self.finite(to_float(value))
        except (TypeError, ValueError, OverflowError):
            return self.text(str(value), limit)

    def timestamp(self, ts: object, now: float) -> datetime:
        """A sample's time; one the wire cannot carry becomes ``now`` (the seal)."""
        seconds = self.number(ts)
        if seconds is None or not EARLIEST.timestamp() <= seconds <= now + MAX_CLOCK_SKEW.total_seconds():
            self.count("out_of_range")
            seconds = now
        return datetime.fromtimestamp(seconds, UTC)

    def features(self, features: Mapping[Any, object], names: FeatureNames) -> dict[str, FeatureValue]:
        """The features the wire can carry: names it cannot hold, or beyond the window's bound, are dropped."""
        out: dict[str, FeatureValue] = {}
        for key, value in features.items():
            name = key if isinstance(key, str) else str(key)
            if len(name) > LONG or "\x00" in name or _SURROGATE.search(name):
                self.count("feature_name")
            elif not names.admit(name):
                self.count("feature_limit")
            else:
                out[name] = self.value(value, VALUE)
        return out

    def errors(self, errors: Mapping[str, int]) -> dict[str, int]:
        """Error class -> requests, with names the wire takes; classes beyond its bound counted under ``other``."""
        merged: dict[str, int] = {}
        for name, count in errors.items():
            key = self.text(name, SHORT)
            merged[key] = merged.get(key, 0) + count
        if len(merged) <= MAX_ERROR_CLASSES:
            return merged
        ranked = sorted(merged.items(), key=lambda item: -item[1])
        kept = dict(ranked[: MAX_ERROR_CLASSES - 1])
        folded = ranked[MAX_ERROR_CLASSES - 1 :]
        kept[OTHER_ERRORS] = kept.get(OTHER_ERRORS, 0) + sum(count for _, count in folded)
        self.count("error_classes", len(folded))
        return kept
