"""Each environment's features over a window, out of ``feature_columns`` (arrays per snapshot and feature).

A row whose samples all lie inside the window is read whole; a row of a snapshot that
crosses an edge of the window keeps only the positions of its samples inside it (looked up
in ``samples`` once per window). Every feature's kind and count come from the rows'
per-kind counts without reading a value (for a snapshot crossing an edge, the kind counts
cover all its samples). Numeric features of small windows are read in one query; beyond
``GROUPED_READ_MAX_VALUES`` values per environment each feature is read when the engine
compares it (on the engine's threads, on a connection of its own), so that memory holds
the features being compared rather than the window. A thinned window (``Window.strides``)
is read one snapshot in N in every query, so its kinds, counts and values agree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import sqlalchemy as sa

from envparity.collector.parity.dataset import FeatureColumn, Kind
from envparity.collector.store import sql as q
from envparity.collector.store.sql import Window

# Up to this many numeric values per environment, its features are read in one query.
GROUPED_READ_MAX_VALUES = 2_000_000

_WHERE = "service = :service AND environment IN :environments AND ts_max >= :start AND ts_min < :end"
_CROSSING = "(ts_min < :start OR ts_max >= :end)"

Key = tuple[str, int]  # a snapshot: (agent id, sequence)
Cuts = dict[Key, np.ndarray]  # positions inside the window, of the snapshots crossing its edges


def _where(window: Window) -> str:
    """The condition of a window's rows: its environments and times, and the snapshots read of a thinned one."""
    return _WHERE + window.sampled()


@dataclass
class _Summary:
    """One feature of one environment over the window, from the kind counts of its rows."""

    numbers: int = 0
    texts: int = 0
    values: int = 0

    @property
    def kind(self) -> Kind:
        if self.numbers and self.texts:
            return "mixed"
        if self.texts:
            return "categorical"
        return "numeric" if self.numbers else "empty"


def _cuts(conn: sa.Connection, window: Window) -> Cuts:
    """For each snapshot crossing an edge of the window, the positions of its samples inside it."""
    sql = (
        "SELECT c.agent_id, c.sequence, array_agg(s.idx ORDER BY s.idx) FROM "
        f"(SELECT DISTINCT agent_id, sequence FROM feature_columns WHERE {_where(window)} AND {_CROSSING}) c "
        "LEFT JOIN samples s ON s.agent_id = c.agent_id AND s.sequence = c.sequence "
        "AND s.ts >= :start AND s.ts < :end GROUP BY c.agent_id, c.sequence"
    )
    return {
        (agent, sequence): np.array([i for i in positions if i is not None], dtype=np.int64)
        for agent, sequence, positions in q.rows(conn, sql, window.params())
    }


def _summaries(conn: sa.Connection, window: Window) -> tuple[dict[str, dict[str, _Summary]], Cuts]:
    """Each feature's kind counts and values in the window, and the cuts of the snapshots crossing its edges."""
    out: dict[str, dict[str, _Summary]] = {env: {} for env in window.environments}
    params = window.params()
    sql = (
        "SELECT environment, feature, sum(numbers), sum(texts) + sum(booleans), "
        f"sum(CASE WHEN {_CROSSING} THEN 0 ELSE length END), sum(CASE WHEN {_CROSSING} THEN 1 ELSE 0 END) "
        f"FROM feature_columns WHERE {_where(window)} GROUP BY environment, feature"
    )
    crossing = False
    for env, name, numbers, texts, values, crossed in q.rows(conn, sql, params):
        out[env][name] = _Summary(int(numbers), int(texts), int(values))
        crossing = crossing or bool(crossed)
    if not crossing:
        return out, {}
    cuts = _cuts(conn, window)
    sql = f"SELECT environment, feature, agent_id, sequence FROM feature_columns WHERE {_where(window)} AND {_CROSSING}"
    for env, name, agent, sequence in q.rows(conn, sql, params):
        out[env][name].values += len(cuts[(agent, sequence)])
    return out, cuts


def _flatten(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """Array rows of numbers end to end, and where each row starts (``offsets[r]:offsets[r + 1]``)."""
    if hasattr(column, "combine_chunks"):  # Arrow
        lists = column.combine_chunks()
        if len(lists) == 0:
            return np.empty(0), np.zeros(1, dtype=np.int64)
        offsets = lists.offsets.to_numpy().astype(np.int64)
        return q.numbers(lists.flatten()), offsets - offsets[0]
    lengths = [len(values) for values in column]
    return q.numbers([v for values in column for v in values]), np.concatenate(([0], np.cumsum(lengths)))


def _in_window(flat: np.ndarray, offsets: np.ndarray, rows: list[int], keys: list[Key], cuts: Cuts) -> np.ndarray:
    """The values of some rows that lie inside the window, as one fresh array."""
    parts = [flat[offsets[r] + cuts[keys[r]]] if keys[r] in cuts else flat[offsets[r] : offsets[r + 1]] for r in rows]
    return np.concatenate(parts) if parts else np.empty(0)


def _keys(cols: dict[str, Any]) -> list[Key]:
    return list(zip(q.texts(cols["agent_id"]), q.texts(cols["sequence"]), strict=True))


def _feature_numbers(engine: sa.Engine, window: Window, name: str, cuts: Cuts) -> np.ndarray:
    """One numeric feature's values as a fresh array, on a connection of its own (the engine reads on threads).

    Rows inside the window are unnested by the database (a flat column converts faster than arrays);
    only rows crossing an edge come back as arrays to be cut.
    """
    where, query = f"{_where(window)} AND feature = :feature", window.params(feature=name)
    with engine.connect() as conn:
        whole = q.columns(
            conn, f"SELECT unnest(num) AS num FROM feature_columns WHERE {where} AND NOT {_CROSSING}", query
        )
        parts = [q.numbers(whole["num"])]
        if cuts:
            cols = q.columns(
                conn, f"SELECT agent_id, sequence, num FROM feature_columns WHERE {where} AND {_CROSSING}", query
            )
            keys = _keys(cols)
            flat, offsets = _flatten(cols["num"])
            parts.append(_in_window(flat, offsets, list(range(len(keys))), keys, cuts))
    return parts[0] if len(parts) == 1 and parts[0].flags.writeable else np.concatenate(parts)


def _text_feature(conn: sa.Connection, window: Window, name: str, cuts: Cuts) -> FeatureColumn:
    """A feature with text values (categories, booleans, or mixed with numbers), read whole."""
    sql = f"SELECT agent_id, sequence, num, str FROM feature_columns WHERE {_where(window)} AND feature = :feature"
    cols = q.columns(conn, sql, window.params(feature=name))
    nums: list[Any] = []
    texts: list[str | None] = []
    for key, row_nums, row_texts in zip(_keys(cols), q.texts(cols["num"]), q.texts(cols["str"]), strict=True):
        row_texts = row_texts if row_texts is not None else [None] * len(row_nums)
        positions = cuts[key] if key in cuts else range(len(row_nums))
        nums.extend(row_nums[i] for i in positions)
        texts.extend(row_texts[i] for i in positions)
    return FeatureColumn.from_values(q.numbers(nums), texts)


def _grouped_numbers(
    conn: sa.Connection, window: Window, summaries: dict[str, dict[str, _Summary]], cuts: Cuts
) -> dict[str, dict[str, FeatureColumn]]:
    """The numeric features of small windows in one query, split by environment and feature."""
    sql = (
        f"SELECT environment, feature, agent_id, sequence, num FROM feature_columns WHERE {_where(window)} "
        "AND texts = 0 AND booleans = 0"
    )
    cols = q.columns(conn, sql, window.params())
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r, group in enumerate(zip(q.texts(cols["environment"]), q.texts(cols["feature"]), strict=True)):
        groups[group].append(r)
    keys = _keys(cols)
    flat, offsets = _flatten(cols["num"])
    out: dict[str, dict[str, FeatureColumn]] = defaultdict(dict)
    for (env, name), rows in groups.items():
        kind = summaries[env][name].kind
        if kind in ("numeric", "empty"):
            values = _in_window(flat, offsets, rows, keys, cuts)
            out[env][name] = FeatureColumn(kind, numeric=values, n_total=values.size)
    return out


def read_features(conn: sa.Connection, window: Window) -> dict[str, dict[str, FeatureColumn]]:
    """Every feature of each environment of the window, by name."""
    summaries, cuts = _summaries(conn, window)
    small = [
        env
        for env, features in summaries.items()
        if sum(s.values for s in features.values()) <= GROUPED_READ_MAX_VALUES
    ]
    features = _grouped_numbers(conn, replace(window, environments=small), summaries, cuts) if small else {}
    out = {}
    for env, named in summaries.items():
        held = dict(features.get(env, {}))
        for name, summary in named.items():
            alone = replace(window, environments=[env])
            if summary.kind in ("categorical", "mixed"):
                held[name] = _text_feature(conn, alone, name, cuts)
            elif name not in held:
                load = partial(_feature_numbers, conn.engine, alone, name, cuts)
                held[name] = FeatureColumn(summary.kind, load=load, n_total=summary.values)
        out[env] = dict(sorted(held.items()))
    return out
