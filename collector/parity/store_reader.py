"""Reading an environment's window out of the store, in bulk, as columns for the engine.

Features come out of ``sample_features`` in one scan per environment (on DuckDB
as an Arrow table, so a million samples are never turned into Python rows) and
are split by feature with one mask each. Shadow pairs are matched in SQL.

An environment may name an earlier window of itself: ``production@24h`` is
production's data over the same window length, 24 hours earlier.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
import sqlalchemy as sa

from envparity.agent.wire import RequestAggregates
from envparity.collector.parity.dataset import (
    EnvironmentData,
    FeatureColumn,
    GpuUsage,
    Outcomes,
    ShadowPairs,
    prediction_class,
)
from envparity.collector.store import Store
from envparity.collector.store.store import naive_utc

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``, ``2w`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"duration {text!r} is not like 30s, 15m, 1h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def split_environment(spec: str) -> tuple[str, timedelta]:
    """``production@24h`` -> (``production``, 24 h); a plain name has no offset."""
    name, _, offset = spec.partition("@")
    return name, parse_duration(offset) if offset else timedelta(0)


def _columns(conn: sa.Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """A query's result as columns: Arrow on DuckDB, plain lists elsewhere."""
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection
        table = raw.sql(re.sub(r":(\w+)", r"$\1", sql), params=params).to_arrow_table()  # type: ignore[union-attr]
        return {name: table.column(name) for name in table.column_names}
    result = conn.execute(sa.text(sql), params)
    rows = result.all()
    return {name: [r[i] for r in rows] for i, name in enumerate(result.keys())}


def _numbers(column: Any) -> np.ndarray:
    if hasattr(column, "to_numpy"):
        return column.to_numpy(zero_copy_only=False).astype(float)
    return np.array([np.nan if v is None else v for v in column], dtype=float)


def _texts(column: Any) -> list[Any]:
    return column.to_pylist() if hasattr(column, "to_pylist") else list(column)


_WHERE = "service = :service AND environment = :environment AND {ts} >= :start AND {ts} < :end"


# Up to this many numeric feature values per environment, DuckDB returns them in one grouped query
# (a list per feature); beyond it, one query per feature keeps memory at one feature at a time.
GROUPED_READ_MAX_ROWS = 2_000_000


def _feature_numbers(engine: sa.Engine, query: dict[str, Any]) -> np.ndarray:
    """One numeric feature's values, on a connection of its own (the engine reads features on threads)."""
    sql = f"SELECT num FROM sample_features WHERE {_WHERE.format(ts='ts')} AND feature = :feature"
    with engine.connect() as conn:
        return _numbers(_columns(conn, sql, query)["num"])


def _features(conn: sa.Connection, params: dict[str, Any]) -> dict[str, FeatureColumn]:
    """Every feature of the window: one grouped scan for names, kinds and counts, then the values.

    A numeric feature is read as its ``num`` column alone (Arrow to NumPy without a copy of
    the text columns): on DuckDB all numeric features of a small window in one grouped query;
    otherwise each when the engine compares it (one query per feature, on the engine's threads),
    so that memory holds the features being compared, not the window.
    """
    where = _WHERE.format(ts="ts")
    kinds: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for name, kind, count in conn.execute(
        sa.text(f"SELECT feature, kind, count(*) FROM sample_features WHERE {where} GROUP BY feature, kind"), params
    ):
        kinds.setdefault(name, set()).add(kind)
        counts[name] = counts.get(name, 0) + count
    grouped = conn.dialect.name == "duckdb" and sum(counts.values()) <= GROUPED_READ_MAX_ROWS
    features = _grouped_numbers(conn, where, params, kinds) if grouped else {}
    for name in sorted(kinds.keys() - features.keys()):
        query = {**params, "feature": name}
        if kinds[name] & {"str", "bool"}:
            cols = _columns(
                conn, f"SELECT kind, num, str FROM sample_features WHERE {where} AND feature = :feature", query
            )
            features[name] = FeatureColumn.from_values(_numbers(cols["num"]), _texts(cols["str"]), _texts(cols["kind"]))
        else:
            kind = "numeric" if "num" in kinds[name] else "empty"
            load = partial(_feature_numbers, conn.engine, query)
            features[name] = FeatureColumn(kind, load=load, n_total=counts[name])
    return dict(sorted(features.items()))


def _grouped_numbers(
    conn: sa.Connection, where: str, params: dict[str, Any], kinds: dict[str, set[str]]
) -> dict[str, FeatureColumn]:
    """The numeric features of a window in one query: one list of values per feature (DuckDB)."""
    cols = _columns(
        conn,
        f"SELECT feature, list(num) AS nums FROM sample_features WHERE {where} "
        "AND kind NOT IN ('str', 'bool') GROUP BY feature",
        params,
    )
    out = {}
    for name, values in zip(_texts(cols["feature"]), cols["nums"], strict=True):
        if kinds[name] & {"str", "bool"}:
            continue
        nums = _numbers(values.values)
        out[name] = FeatureColumn("numeric" if "num" in kinds[name] else "empty", numeric=nums, n_total=len(nums))
    return out


def _requests(conn: sa.Connection, params: dict[str, Any]) -> tuple[RequestAggregates | None, float]:
    rows = conn.execute(
        sa.text(
            "SELECT requests, errors_by_class, latency_bounds, latency_counts, latency_sum_s, window_start, window_end "
            f"FROM request_windows WHERE {_WHERE.format(ts='window_end')}"
        ),
        params,
    ).all()
    total: RequestAggregates | None = None
    for r in rows:
        agg = RequestAggregates(
            requests=r.requests,
            errors=json.loads(r.errors_by_class),
            latency_bucket_bounds_s=json.loads(r.latency_bounds),
            latency_bucket_counts=json.loads(r.latency_counts),
            latency_sum_s=r.latency_sum_s,
        )
        total = agg if total is None else total.merge(agg)
    if not rows:
        return None, 0.0
    span = (max(r.window_end for r in rows) - min(r.window_start for r in rows)).total_seconds()
    return total, span


def _outcomes(conn: sa.Connection, params: dict[str, Any]) -> Outcomes | None:
    rows = conn.execute(
        sa.text(
            "SELECT s.prediction_num, o.outcome_num FROM samples s JOIN outcomes o "
            "ON o.request_id = s.request_id AND o.service = s.service AND o.environment = s.environment "
            "WHERE s.service = :service AND s.environment = :environment AND s.ts >= :start AND s.ts < :end "
            "AND s.prediction_num IS NOT NULL AND o.outcome_num IS NOT NULL"
        ),
        params,
    ).all()
    if not rows:
        return None
    predicted = prediction_class(np.array([r[0] for r in rows], dtype=float))
    return Outcomes(predicted=predicted, actual=np.rint(np.array([r[1] for r in rows], dtype=float)).astype(int))


def _gpu(conn: sa.Connection, params: dict[str, Any]) -> GpuUsage | None:
    rows = conn.execute(
        sa.text(f"SELECT uuid, lost, gpu_values FROM gpu_windows WHERE {_WHERE.format(ts='window_end')}"), params
    ).all()
    if not rows:
        return None
    values = [json.loads(r.gpu_values) for r in rows]
    utils = [v["DCGM_FI_DEV_GPU_UTIL"] for v in values if "DCGM_FI_DEV_GPU_UTIL" in v]
    used = [
        v["DCGM_FI_DEV_FB_USED"] / v["DCGM_FI_DEV_FB_TOTAL"]
        for v in values
        if v.get("DCGM_FI_DEV_FB_TOTAL") and "DCGM_FI_DEV_FB_USED" in v
    ]
    return GpuUsage(
        gpus=len({r.uuid for r in rows}),
        mean_utilization=float(np.mean(utils)) if utils else None,
        peak_memory_used=max(used) if used else None,
        lost=len({r.uuid for r in rows if r.lost}),
    )


def load_environment(store: Store, service: str, spec: str, start: datetime, end: datetime) -> EnvironmentData:
    """One environment's window (``spec`` may carry an ``@offset``)."""
    name, offset = split_environment(spec)
    params = {
        "service": service,
        "environment": name,
        "start": naive_utc(start - offset),
        "end": naive_utc(end - offset),
    }
    with store.engine.connect() as conn:
        samples = _columns(
            conn, f"SELECT prediction_num, confidence FROM samples WHERE {_WHERE.format(ts='ts')}", params
        )
        requests, span = _requests(conn, params)
        data = EnvironmentData(
            name=spec,
            features=_features(conn, params),
            predictions=_numbers(samples["prediction_num"]),
            confidence=_numbers(samples["confidence"]),
            requests=requests,
            window_s=span,
            outcomes=_outcomes(conn, params),
            gpu=_gpu(conn, params),
            samples=len(samples["prediction_num"]),
        )
    return data


_AGREE = (
    "(b.prediction_str IS NOT NULL AND b.prediction_str = t.prediction_str) OR "
    "(b.prediction_num IS NOT NULL AND t.prediction_num IS NOT NULL AND "
    "(CASE WHEN b.prediction_num >= 0.5 THEN 1 ELSE 0 END) = "
    "(CASE WHEN t.prediction_num >= 0.5 THEN 1 ELSE 0 END))"
)
_PAIR_FILTER = (
    "b.service = :service AND t.service = :service AND b.environment = :baseline "
    "AND t.environment = :target AND b.ts >= :bstart AND b.ts < :bend AND t.ts >= :tstart "
    "AND t.ts < :tend"
)
_PAIRS = f"FROM samples b JOIN samples t ON b.request_id = t.request_id WHERE {_PAIR_FILTER}"
# Materialised steps keep the join order (pairs first, then each side's features) even when the
# planner has no statistics yet; a feature-first join would multiply every row by every other.
_FEATURE_MISMATCHES = f"""
WITH pairs AS MATERIALIZED (
    SELECT b.agent_id AS b_agent, b.sequence AS b_seq, b.idx AS b_idx,
           t.agent_id AS t_agent, t.sequence AS t_seq, t.idx AS t_idx {_PAIRS}
), base AS MATERIALIZED (
    SELECT p.t_agent, p.t_seq, p.t_idx, f.feature, f.num, f.str
    FROM pairs p JOIN sample_features f ON f.agent_id = p.b_agent AND f.sequence = p.b_seq AND f.idx = p.b_idx
    WHERE f.service = :service AND f.environment = :baseline AND f.ts >= :bstart AND f.ts < :bend
)
SELECT fb.feature, count(*), sum(CASE WHEN (fb.num IS NULL) <> (ft.num IS NULL) OR abs(fb.num - ft.num) > :tol
                                     OR coalesce(fb.str, '') <> coalesce(ft.str, '') THEN 1 ELSE 0 END)
FROM base fb JOIN sample_features ft ON ft.agent_id = fb.t_agent AND ft.sequence = fb.t_seq AND ft.idx = fb.t_idx
     AND ft.feature = fb.feature
WHERE ft.service = :service AND ft.environment = :target AND ft.ts >= :tstart AND ft.ts < :tend
GROUP BY fb.feature
"""


def load_shadow(
    store: Store, service: str, baseline: str, target: str, start: datetime, end: datetime, tolerance: float
) -> ShadowPairs:
    """Requests seen in both environments: prediction agreement and per-feature equality."""
    (bname, boff), (tname, toff) = split_environment(baseline), split_environment(target)
    params = {
        "service": service,
        "baseline": bname,
        "target": tname,
        "tol": tolerance,
        "bstart": naive_utc(start - boff),
        "bend": naive_utc(end - boff),
        "tstart": naive_utc(start - toff),
        "tend": naive_utc(end - toff),
    }
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Freshly ingested tables have no statistics yet; PostgreSQL then estimates one row per
            # side and nests loops over every sample. These are bulk joins: hash them.
            conn.execute(sa.text("SET LOCAL enable_nestloop = off"))
        matched, agreeing = conn.execute(
            sa.text(f"SELECT count(*), sum(CASE WHEN {_AGREE} THEN 1 ELSE 0 END) {_PAIRS}"), params
        ).one()
        # without shared requests there is nothing to compare, and the join would still build on every feature row
        rows = conn.execute(sa.text(_FEATURE_MISMATCHES), params).all() if matched else []
    return ShadowPairs(
        matched=int(matched or 0),
        agreeing=int(agreeing or 0),
        feature_mismatches={r[0]: (int(r[1]), int(r[2] or 0)) for r in rows},
    )
