"""Reading an environment's window out of the store, in bulk, as columns for the engine.

All environments of a service that share a window are read together, one query of
each kind (samples, features, request windows, outcomes, GPU), and split afterwards;
on DuckDB as Arrow tables, so a million samples never become Python rows. Features
come from ``feature_reader``. Shadow pairs are matched in SQL.

An environment may name an earlier window of itself: ``production@24h`` is
production's data over the same window length, 24 hours earlier.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from envparity.agent.wire import RequestAggregates
from envparity.collector.parity.dataset import (
    EnvironmentData,
    GpuUsage,
    Outcomes,
    ShadowPairs,
    prediction_class,
)
from envparity.collector.parity.windows import split_environment
from envparity.collector.store import sql as q
from envparity.collector.store.feature_reader import read_features
from envparity.collector.store.sql import Window, naive_utc
from envparity.collector.store.store import Store

_WHERE = "service = :service AND environment IN :environments AND {ts} >= :start AND {ts} < :end"


def _per_environment(conn: sa.Connection, sql: str, params: dict[str, Any]) -> dict[str, list[q.Row]]:
    """A query's rows (``environment`` first) grouped by environment; every environment asked for has a list."""
    grouped: dict[str, list[q.Row]] = {env: [] for env in params["environments"]}
    for row in q.rows(conn, sql, params):
        grouped[row[0]].append(row)
    return grouped


def _requests(conn: sa.Connection, params: dict[str, Any]) -> dict[str, tuple[RequestAggregates | None, float]]:
    sql = (
        "SELECT environment, requests, errors_by_class, latency_bounds, latency_counts, latency_sum_s, "
        f"window_start, window_end FROM request_windows WHERE {_WHERE.format(ts='window_end')}"
    )
    return {env: _request_totals(rows) for env, rows in _per_environment(conn, sql, params).items()}


def _request_totals(rows: list[q.Row]) -> tuple[RequestAggregates | None, float]:
    """The merged request aggregates of an environment's windows, and the seconds they span."""
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
    span = (max(r.window_end for r in rows) - min(r.window_start for r in rows)).total_seconds() if rows else 0.0
    return total, span


def _outcomes(conn: sa.Connection, window: Window) -> dict[str, Outcomes | None]:
    params = window.params()
    recorded = "SELECT 1 FROM outcomes WHERE service = :service AND environment IN :environments LIMIT 1"
    if not q.rows(conn, recorded, params):  # most services record none: no join over their samples
        return dict.fromkeys(params["environments"])
    sql = (
        "SELECT s.environment, s.prediction_num, o.outcome_num FROM samples s JOIN outcomes o "
        "ON o.request_id = s.request_id AND o.service = s.service AND o.environment = s.environment "
        "WHERE s.service = :service AND s.environment IN :environments AND s.ts >= :start AND s.ts < :end "
        f"AND s.prediction_num IS NOT NULL AND o.outcome_num IS NOT NULL{window.sampled('s.')}"
    )
    return {env: _outcome_pairs(rows) for env, rows in _per_environment(conn, sql, params).items()}


def _outcome_pairs(rows: list[q.Row]) -> Outcomes | None:
    if not rows:
        return None
    predicted = np.array([r[1] for r in rows], dtype=float)
    actual = np.rint(np.array([r[2] for r in rows], dtype=float)).astype(int)
    return Outcomes(predicted=prediction_class(predicted), actual=actual)


def _gpu(conn: sa.Connection, params: dict[str, Any]) -> dict[str, GpuUsage | None]:
    sql = f"SELECT environment, uuid, lost, gpu_values FROM gpu_windows WHERE {_WHERE.format(ts='window_end')}"
    return {env: _gpu_usage(rows) for env, rows in _per_environment(conn, sql, params).items()}


def _gpu_usage(rows: list[q.Row]) -> GpuUsage | None:
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


# Up to this many samples per environment, a window's request ids are read to tell whether two
# environments share any (shadow traffic) before matching them in SQL; larger windows go to SQL directly.
SHADOW_PRECHECK_MAX = 50_000


_SAMPLES = "FROM samples WHERE " + _WHERE.format(ts="ts")


def _request_ids(conn: sa.Connection, window: Window) -> dict[str, Any]:
    """Every request id of the window, unthinned: shadow pairs are matched over the whole window (``load_shadow``)."""
    names = window.environments
    sql = f"SELECT {window.environment_index()} AS environment, request_id {_SAMPLES}"
    parts = q.split(q.columns(conn, sql, window.params()), len(names))
    return {n: parts[i]["request_id"] for i, n in enumerate(names)}


# A thinned environment keeps at least about this many snapshots: its sequence numbers are only known to be
# distinct, so a stride close to their number could pick none.
MIN_THINNED_SNAPSHOTS = 4


def _stride(samples: int, sequences: int, max_samples: int) -> int:
    """One snapshot in how many to read so that about ``max_samples`` of ``samples`` are (1: all of them)."""
    return max(1, min(-(-samples // max_samples), sequences // MIN_THINNED_SNAPSHOTS))


def _thinned(conn: sa.Connection, window: Window, max_samples: int) -> tuple[Window, dict[str, int]]:
    """The window with a stride for each environment holding more than ``max_samples`` samples (about that many
    are read), and every environment's count of samples in the window."""
    names = window.environments
    sql = f"SELECT {window.environment_index()}, count(*), count(DISTINCT sequence) {_SAMPLES} GROUP BY 1"
    found = {names[int(i)]: (int(n), int(sequences)) for i, n, sequences in q.rows(conn, sql, window.params())}
    strides = {name: _stride(n, sequences, max_samples) for name, (n, sequences) in found.items()}
    counts = dict.fromkeys(names, 0) | {name: n for name, (n, _) in found.items()}
    return replace(window, strides={name: k for name, k in strides.items() if k > 1}), counts


def _load_window(conn: sa.Connection, window: Window, max_samples: int | None) -> dict[str, EnvironmentData]:
    """Environments of one service over one window, each query covering all of them; about ``max_samples`` of
    each environment's samples are read at most (None: all)."""
    names, params = window.environments, window.params()
    counts: dict[str, int] = {}
    if max_samples is not None:
        window, counts = _thinned(conn, window, max_samples)
    sql = f"SELECT {window.environment_index()} AS environment, prediction_num, confidence {_SAMPLES}{window.sampled()}"
    parts = q.split(q.columns(conn, sql, params), len(names))
    samples = {n: parts[i] for i, n in enumerate(names)}
    read = {n: len(samples[n]["prediction_num"]) for n in names}
    small = max((counts or read).values(), default=0) <= SHADOW_PRECHECK_MAX
    ids = _request_ids(conn, window) if small else {}
    requests, outcomes, gpu = _requests(conn, params), _outcomes(conn, window), _gpu(conn, params)
    features = read_features(conn, window)
    return {
        n: EnvironmentData(
            name=n,
            features=features.get(n, {}),
            predictions=q.numbers(samples[n]["prediction_num"]),
            confidence=q.numbers(samples[n]["confidence"]),
            requests=requests[n][0],
            window_s=requests[n][1],
            outcomes=outcomes[n],
            gpu=gpu[n],
            samples=counts.get(n, read[n]),
            thinned_to=read[n] if n in window.strides else None,
            request_ids=ids.get(n),
        )
        for n in names
    }


def load_environments(
    store: Store, service: str, windows: dict[str, tuple[datetime, datetime]], max_samples: int | None = None
) -> dict[str, EnvironmentData]:
    """Environments of a service, each over its window (``spec -> (start, end)``; a spec may carry an ``@offset``).

    Environments that share a window are read together: one query of each kind for all of them.
    An environment holding more than ``max_samples`` samples in its window is thinned to about
    that many (``Window.strides``); its ``samples`` stays the count in the window.
    """
    shared: dict[tuple[datetime, datetime], dict[str, list[str]]] = {}
    for spec, (start, end) in windows.items():
        name, offset = split_environment(spec)
        shared.setdefault((start - offset, end - offset), {}).setdefault(name, []).append(spec)
    out: dict[str, EnvironmentData] = {}
    with store.engine.connect() as conn:
        for (start, end), specs in shared.items():
            window = Window(service, sorted(specs), start, end)
            for name, data in _load_window(conn, window, max_samples).items():
                for spec in specs[name]:
                    out[spec] = replace(data, name=spec)
    return out


# agreement is counted over the requests with a prediction on both sides; one that failed on a side is error parity
_PREDICTED = (
    "(b.prediction_num IS NOT NULL OR b.prediction_str IS NOT NULL) AND "
    "(t.prediction_num IS NOT NULL OR t.prediction_str IS NOT NULL)"
)
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


# Materialised steps keep the join order (pairs first, then the feature values of the snapshots they
# touch, unnested with their sample index) even when the planner has no statistics yet; a feature-first
# join would multiply every row by every other.
def _paired_values(side: str) -> str:
    return f"""{side}_values AS MATERIALIZED (
    SELECT f.agent_id, f.sequence, f.feature, generate_subscripts(f.num, 1) - 1 AS idx,
           unnest(f.num) AS num, unnest(f.str) AS str
    FROM feature_columns f JOIN (SELECT DISTINCT {side}_agent, {side}_seq FROM pairs) s
         ON f.agent_id = s.{side}_agent AND f.sequence = s.{side}_seq
)"""


_FEATURE_MISMATCHES = f"""
WITH pairs AS MATERIALIZED (
    SELECT b.agent_id AS b_agent, b.sequence AS b_seq, b.idx AS b_idx,
           t.agent_id AS t_agent, t.sequence AS t_seq, t.idx AS t_idx {_PAIRS}
), {_paired_values("b")}, {_paired_values("t")}, base AS MATERIALIZED (
    SELECT p.t_agent, p.t_seq, p.t_idx, v.feature, v.num, v.str
    FROM pairs p JOIN b_values v ON v.agent_id = p.b_agent AND v.sequence = p.b_seq AND v.idx = p.b_idx
)
SELECT fb.feature, count(*), sum(CASE WHEN (fb.num IS NULL) <> (ft.num IS NULL) OR abs(fb.num - ft.num) > :tol
                                     OR coalesce(fb.str, '') <> coalesce(ft.str, '') THEN 1 ELSE 0 END)
FROM base fb JOIN t_values ft ON ft.agent_id = fb.t_agent AND ft.sequence = fb.t_seq AND ft.idx = fb.t_idx
     AND ft.feature = fb.feature
WHERE fb.num IS NOT NULL OR fb.str IS NOT NULL OR ft.num IS NOT NULL OR ft.str IS NOT NULL
GROUP BY fb.feature
"""


def shares_requests(baseline: EnvironmentData, target: EnvironmentData) -> bool:
    """Whether the two windows hold a request id in common: without one there is no shadow pair to match."""
    b, t = baseline.request_ids, target.request_ids
    if b is None or t is None:
        return True  # not known: let the store match them
    if hasattr(b, "to_pylist"):  # Arrow: a hash lookup without Python objects
        import pyarrow.compute as pc

        return bool(pc.any(pc.is_in(pc.drop_null(t), value_set=pc.drop_null(b))).as_py())
    return bool(set(b) & set(t) - {None})


def load_shadow(
    store: Store, service: str, baseline: str, target: str, start: datetime, end: datetime, tolerance: float
) -> ShadowPairs:
    """Requests seen in both environments: prediction agreement and per-feature equality.

    Agreement counts the requests with a prediction on both sides; a feature's equality, the
    requests where it is present on at least one side.
    """
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
        shared, matched, agreeing = conn.execute(
            sa.text(
                f"SELECT count(*), sum(CASE WHEN {_PREDICTED} THEN 1 ELSE 0 END), "
                f"sum(CASE WHEN ({_PREDICTED}) AND ({_AGREE}) THEN 1 ELSE 0 END) {_PAIRS}"
            ),
            params,
        ).one()
        # without shared requests there is nothing to compare, and the join would still build on every feature row
        rows = conn.execute(sa.text(_FEATURE_MISMATCHES), params).all() if shared else []
    return ShadowPairs(
        matched=int(matched or 0),
        agreeing=int(agreeing or 0),
        feature_mismatches={r[0]: (int(r[1]), int(r[2] or 0)) for r in rows},
    )
