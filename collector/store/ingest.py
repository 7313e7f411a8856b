"""Writing a snapshot into the store: its rows in the caller's transaction, exactly once per (agent, sequence).

A repeat of the same body is a duplicate and stores nothing; the same sequence
with a different body is refused as a conflict; a snapshot naming a fingerprint
by hash alone is refused until the collector has received that fingerprint in
full. Samples go in as columns (``bulk``), and each feature of a snapshot as one
row of arrays in ``feature_columns``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from envparity.agent.wire import GpuMetrics, Header, Outcome, Sample, Snapshot
from envparity.collector.store import schema
from envparity.collector.store.bulk import bulk_insert
from envparity.collector.store.sql import naive_utc


class StoreError(Exception):
    """Base of the errors an ingest can answer with."""


class UnknownFingerprint(StoreError):
    """A snapshot referred to a fingerprint hash this store has never received in full."""


class SequenceConflict(StoreError):
    """The same (agent, sequence) arrived again with a different body."""


@dataclass
class IngestResult:
    duplicate: bool
    rows: dict[str, int] = field(default_factory=dict)


def ingest_snapshot(conn: sa.Connection, snap: Snapshot, body_sha256: str, received_at: datetime) -> IngestResult:
    """Every row of a snapshot, in the caller's transaction; nothing for a duplicate."""
    h = snap.header
    existing = conn.execute(
        sa.select(schema.snapshots.c.body_sha256).where(
            schema.snapshots.c.agent_id == h.agent_id,
            schema.snapshots.c.sequence == h.sequence,
        )
    ).scalar_one_or_none()
    if existing is not None:
        if existing != body_sha256:
            raise SequenceConflict(
                f"agent {h.agent_id} already sent sequence {h.sequence} with a different "
                "body; two agents may share one id"
            )
        return IngestResult(duplicate=True)
    rows = {"fingerprints": _store_fingerprint(conn, snap, received_at)}
    inserted = conn.execute(
        pg_insert(schema.snapshots)
        .values(
            agent_id=h.agent_id,
            sequence=h.sequence,
            service=h.service,
            environment=h.environment,
            window_start=naive_utc(h.window_start),
            window_end=naive_utc(h.window_end),
            received_at=naive_utc(received_at),
            agent_version=h.agent_version,
            hostname=h.host.hostname,
            pod=h.host.pod,
            fingerprint_hash=snap.effective_fingerprint_hash,
            body_sha256=body_sha256,
            snapshots_lost=json.dumps(h.snapshots_lost, sort_keys=True) if h.snapshots_lost else None,
        )
        .on_conflict_do_nothing()
    ).rowcount
    if inserted == 0:  # a concurrent duplicate won the race (PostgreSQL)
        return IngestResult(duplicate=True)
    rows["snapshots"] = 1
    rows["request_windows"] = _store_requests(conn, snap)
    if snap.samples:
        rows.update(_store_samples(conn, h, snap.samples))
    if snap.gpu and snap.gpu.devices:
        rows["gpu_windows"] = _store_gpu(conn, h, snap.gpu.devices)
    if snap.outcomes:
        rows["outcomes"] = insert_outcomes(conn, h.service, h.environment, snap.outcomes, received_at)
    return IngestResult(duplicate=False, rows=rows)


def _store_fingerprint(conn: sa.Connection, snap: Snapshot, now: datetime) -> int:
    fp_hash = snap.effective_fingerprint_hash
    if fp_hash is None:
        return 0
    known = conn.execute(sa.select(sa.func.count()).where(schema.fingerprints.c.hash == fp_hash)).scalar_one()
    if known:
        return 0
    if snap.fingerprint is None:
        raise UnknownFingerprint(f"fingerprint {fp_hash} is not known to this collector; send it in full")
    body = snap.fingerprint.model_dump_json(exclude={"hash"})
    conn.execute(
        pg_insert(schema.fingerprints)
        .values(hash=fp_hash, body=body, first_seen=naive_utc(now))
        .on_conflict_do_nothing()
    )
    return 1


def _store_requests(conn: sa.Connection, snap: Snapshot) -> int:
    req, h = snap.requests, snap.header
    if req is None:
        return 0
    conn.execute(
        schema.request_windows.insert().values(
            agent_id=h.agent_id,
            sequence=h.sequence,
            service=h.service,
            environment=h.environment,
            window_start=naive_utc(h.window_start),
            window_end=naive_utc(h.window_end),
            requests=req.requests,
            errors=sum(req.errors.values()),
            errors_by_class=json.dumps(req.errors),
            latency_bounds=json.dumps(req.latency_bucket_bounds_s),
            latency_counts=json.dumps(req.latency_bucket_counts),
            latency_sum_s=req.latency_sum_s,
        )
    )
    return 1


def _store_samples(conn: sa.Connection, h: Header, samples: list[Sample]) -> dict[str, int]:
    n = len(samples)
    ts = [naive_utc(s.ts) for s in samples]
    preds = [s.prediction for s in samples]
    sample_cols = {
        **_constant_key(h, n),
        "idx": list(range(n)),
        "ts": ts,
        "request_id": [s.request_id for s in samples],
        "prediction_num": [float(p) if isinstance(p, int | float) else None for p in preds],
        "prediction_str": [p if isinstance(p, str) else None for p in preds],
        "confidence": [s.confidence for s in samples],
        "latency_s": [s.latency_s for s in samples],
        "model_version": [s.model_version for s in samples],
        "error": [s.error for s in samples],
    }
    return {
        "samples": bulk_insert(conn, schema.samples, sample_cols),
        "feature_columns": bulk_insert(conn, schema.feature_columns, _feature_columns(h, samples, ts)),
    }


def _store_gpu(conn: sa.Connection, h: Header, devices: list[GpuMetrics]) -> int:
    conn.execute(
        schema.gpu_windows.insert(),
        [
            {
                "agent_id": h.agent_id,
                "sequence": h.sequence,
                "service": h.service,
                "environment": h.environment,
                "window_end": naive_utc(h.window_end),
                "hostname": h.host.hostname,
                "uuid": d.uuid,
                "gpu_index": d.index,
                "name": d.name,
                "lost": d.lost,
                "gpu_values": json.dumps(d.values),
            }
            for d in devices
        ],
    )
    return len(devices)


def insert_outcomes(
    conn: sa.Connection, service: str, environment: str, items: list[Outcome], received_at: datetime
) -> int:
    """Outcomes of requests, in the caller's transaction (an outcome without a time takes ``received_at``)."""
    n = len(items)
    return bulk_insert(
        conn,
        schema.outcomes,
        {
            "service": [service] * n,
            "environment": [environment] * n,
            "request_id": [o.request_id for o in items],
            "outcome_num": [float(o.outcome) if isinstance(o.outcome, int | float) else None for o in items],
            "outcome_str": [o.outcome if isinstance(o.outcome, str) else None for o in items],
            "ts": [naive_utc(o.ts or received_at) for o in items],
        },
    )


def _constant_key(header: Header, n: int) -> dict[str, list[Any]]:
    return {
        "agent_id": [header.agent_id] * n,
        "sequence": [header.sequence] * n,
        "service": [header.service] * n,
        "environment": [header.environment] * n,
    }


def _feature_columns(header: Header, samples: list[Sample], ts: list[datetime]) -> dict[str, list[Any]]:
    """One row per feature of the snapshot: its value for every sample, as a number array and a text array."""
    names = list(dict.fromkeys(name for sample in samples for name in sample.features))
    rows: dict[str, list[Any]] = {"feature": names, "num": [], "str": [], "numbers": [], "texts": [], "booleans": []}
    for name in names:
        values = [sample.features.get(name) for sample in samples]
        texts = [_text(v) for v in values]
        rows["num"].append([float(v) if isinstance(v, int | float) else None for v in values])
        rows["booleans"].append(sum(isinstance(v, bool) for v in values))
        rows["texts"].append(sum(isinstance(v, str) for v in values))
        rows["numbers"].append(sum(isinstance(v, int | float) for v in values) - rows["booleans"][-1])
        rows["str"].append(texts if any(t is not None for t in texts) else None)
    n = len(names)
    first, last = min(ts), max(ts)
    return {
        **_constant_key(header, n),
        **rows,
        "ts_min": [first] * n,
        "ts_max": [last] * n,
        "length": [len(samples)] * n,
    }


def _text(value: object) -> str | None:
    """A feature value as the text array keeps it: strings, and booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None
