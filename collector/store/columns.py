"""Arrow tables of a snapshot's samples, built straight from the wire model: what ``samples`` and
``feature_columns`` take.

A snapshot's samples become one row per sample in ``samples`` and one row per
feature in ``feature_columns`` (that feature's value for every sample, as a
number array and a text array). A column whose values are all of one kind
(numbers, texts or booleans, with nulls) is converted by pyarrow in one call; only
a column mixing kinds is classified value by value. The samples come in either
wire form: a list of samples (``Snapshot.samples``) or, from wire 1.2, one list per
field (``Snapshot.columns``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from envparity.agent.wire import Header, Snapshot

_NUMBER_KINDS = frozenset({float, int, type(None)})
_TEXT_KINDS = frozenset({str, type(None)})
_BOOL_KINDS = frozenset({bool, type(None)})
_TS = pa.timestamp("us")


@dataclass(frozen=True)
class FeatureColumn:
    """One feature of a snapshot as ``feature_columns`` keeps it."""

    num: pa.Array  # float64: a number (booleans as 1/0) or null per sample
    str: pa.Array | None  # string: a text ("true"/"false" for booleans) or null per sample; None when no value is text
    numbers: int
    texts: int
    booleans: int


@dataclass(frozen=True)
class SampleColumns:
    """A snapshot's samples, one list per field (the wire's column form, or the row form turned over)."""

    ts: pa.Array  # timestamp[us], UTC without a zone
    request_id: Sequence[Any]
    prediction: Sequence[Any]
    confidence: Sequence[Any]
    latency_s: Sequence[Any]
    model_version: Sequence[Any]
    error: Sequence[Any]
    features: dict[str, Sequence[Any]]


def _nulls(n: int) -> list[None]:
    return [None] * n


def sample_columns(snap: Snapshot) -> SampleColumns | None:
    """The samples of ``snap`` as columns, from whichever form it carries; None when it has none."""
    cols = getattr(snap, "columns", None)
    if cols is not None and cols.ts:
        n = len(cols.ts)
        return SampleColumns(
            ts=pa.array(cols.ts, _TS),
            request_id=cols.request_id or _nulls(n),
            prediction=cols.prediction or _nulls(n),
            confidence=cols.confidence or _nulls(n),
            latency_s=cols.latency_s or _nulls(n),
            model_version=cols.model_version or _nulls(n),
            error=cols.error or _nulls(n),
            features=dict(cols.features),
        )
    rows = snap.samples
    if not rows:
        return None
    return SampleColumns(
        ts=pa.array([s.ts for s in rows], _TS),
        request_id=[s.request_id for s in rows],
        prediction=[s.prediction for s in rows],
        confidence=[s.confidence for s in rows],
        latency_s=[s.latency_s for s in rows],
        model_version=[s.model_version for s in rows],
        error=[s.error for s in rows],
        features=_transposed([s.features for s in rows]),
    )


def _transposed(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Per-sample features as one list per feature (absent: None), in order of first appearance."""
    names = list(dict.fromkeys(chain.from_iterable(rows)))
    if not names:
        return {}
    values = itemgetter(*names)
    try:  # every sample has every feature: transposed in C
        table = [values(row) for row in rows] if len(names) > 1 else [(values(row),) for row in rows]
    except KeyError:
        return {name: [row.get(name) for row in rows] for name in names}
    return dict(zip(names, zip(*table, strict=True), strict=True))


def _text(value: object) -> str | None:
    """A value as the text array keeps it: strings, and booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def _mixed(values: Sequence[Any]) -> FeatureColumn:
    """A column mixing kinds, classified value by value."""
    texts = [_text(v) for v in values]
    booleans = sum(isinstance(v, bool) for v in values)
    return FeatureColumn(
        num=pa.array([float(v) if isinstance(v, int | float) else None for v in values], pa.float64()),
        str=pa.array(texts, pa.string()) if any(t is not None for t in texts) else None,
        numbers=sum(isinstance(v, int | float) for v in values) - booleans,
        texts=sum(isinstance(v, str) for v in values),
        booleans=booleans,
    )


def feature_column(values: Sequence[Any]) -> FeatureColumn:
    """One feature's values (numbers, booleans, texts or None) as its arrays and counts."""
    kinds = set(map(type, values))
    n = len(values)
    try:
        if kinds <= _NUMBER_KINDS:
            num = pa.array(values, pa.float64())  # an integer beyond 2**53 raises: classified one by one
            return FeatureColumn(num, None, n - num.null_count, 0, 0)
    except pa.ArrowInvalid:
        return _mixed(values)
    if kinds <= _BOOL_KINDS:
        flags = pa.array(values, pa.bool_())
        count = n - flags.null_count
        return FeatureColumn(pc.cast(flags, pa.float64()), pc.if_else(flags, "true", "false"), 0, 0, count)
    if kinds <= _TEXT_KINDS:
        texts = pa.array(values, pa.string())
        return FeatureColumn(pa.nulls(n, pa.float64()), texts, 0, n - texts.null_count, 0)
    return _mixed(values)


def _numbers_and_texts(values: Sequence[Any]) -> tuple[pa.Array, pa.Array]:
    """A prediction column as (number or null, text or null) per sample."""
    if set(map(type, values)) <= _NUMBER_KINDS:
        try:
            return pa.array(values, pa.float64()), pa.nulls(len(values), pa.string())
        except pa.ArrowInvalid:  # an integer beyond 2**53
            pass
    return (
        pa.array([float(v) if isinstance(v, int | float) else None for v in values], pa.float64()),
        pa.array([v if isinstance(v, str) else None for v in values], pa.string()),
    )


def _key(header: Header, n: int) -> dict[str, pa.Array]:
    """The snapshot's key and pair, repeated on each of ``n`` rows."""
    return {
        "agent_id": pa.array([header.agent_id] * n, pa.string()),
        "sequence": pa.array([header.sequence] * n, pa.int64()),
        "service": pa.array([header.service] * n, pa.string()),
        "environment": pa.array([header.environment] * n, pa.string()),
    }


def samples_table(header: Header, cols: SampleColumns) -> pa.Table:
    """One row per sample."""
    n = len(cols.ts)
    num, text = _numbers_and_texts(cols.prediction)
    return pa.table(
        {
            **_key(header, n),
            "idx": pa.array(range(n), pa.int32()),
            "ts": cols.ts,
            "request_id": pa.array(cols.request_id, pa.string()),
            "prediction_num": num,
            "prediction_str": text,
            "confidence": pa.array(cols.confidence, pa.float64()),
            "latency_s": pa.array(cols.latency_s, pa.float64()),
            "model_version": pa.array(cols.model_version, pa.string()),
            "error": pa.array(cols.error, pa.string()),
        }
    )


def _lists(arrays: list[pa.Array | None], value_type: pa.DataType, length: int) -> pa.Array:
    """Equally long arrays (or None, a null list) as one list array."""
    present = [a for a in arrays if a is not None]
    offsets, at = [0], 0
    for a in arrays:
        at += length if a is not None else 0
        offsets.append(at)
    values = pa.concat_arrays([a.cast(value_type) for a in present]) if present else pa.array([], value_type)
    mask = pa.array([a is None for a in arrays], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, mask=mask)


def features_table(header: Header, cols: SampleColumns) -> pa.Table | None:
    """One row per feature: its values for every sample as arrays, and how many are numbers, texts, booleans."""
    if not cols.features:
        return None
    n, length = len(cols.features), len(cols.ts)
    built = [feature_column(values) for values in cols.features.values()]
    bounds = pc.min_max(cols.ts)
    return pa.table(
        {
            **_key(header, n),
            "feature": pa.array(list(cols.features), pa.string()),
            "ts_min": pa.array([bounds["min"].as_py()] * n, _TS),
            "ts_max": pa.array([bounds["max"].as_py()] * n, _TS),
            "length": pa.array([length] * n, pa.int32()),
            "numbers": pa.array([f.numbers for f in built], pa.int32()),
            "texts": pa.array([f.texts for f in built], pa.int32()),
            "booleans": pa.array([f.booleans for f in built], pa.int32()),
            "num": _lists([f.num for f in built], pa.float64(), length),
            "str": _lists([f.str for f in built], pa.string(), length),
        }
    )
