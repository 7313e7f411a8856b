"""Writing snapshots into the store: a group of them in one transaction, each exactly once per (agent, sequence).

A snapshot is first prepared (``prepare``: its samples turned into Arrow tables,
off the store's lock), then written with the others that arrived meanwhile
(``write_group``): one transaction, one statement per table for the whole group,
one commit. Within a group, as between groups, a repeat of the same body is a
duplicate and stores nothing; the same sequence with a different body is refused
as a conflict; a snapshot naming a fingerprint by hash alone is refused unless the
store, or a snapshot of the same group, holds that fingerprint in full. Rows go
in sorted by key, so that groups on concurrent PostgreSQL connections take their
locks in one order. A group whose transaction fails is written again snapshot
by snapshot, so that one bad snapshot fails alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from envparity.agent.wire import Outcome, Snapshot
from envparity.collector.store import schema
from envparity.collector.store.bulk import Columns, bulk_insert
from envparity.collector.store.columns import features_table, sample_columns, samples_table
from envparity.collector.store.probes import insert_probes
from envparity.collector.store.sql import naive_utc

log = logging.getLogger("envparity.collector.store")
Key = tuple[str, int]


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


@dataclass(frozen=True)
class PreparedSnapshot:
    """A snapshot ready to write: its sample rows already in the shape of their tables."""

    snap: Snapshot
    body_sha256: str
    received_at: datetime
    samples: pa.Table | None
    features: pa.Table | None

    @property
    def key(self) -> Key:
        return self.snap.header.agent_id, self.snap.header.sequence


def prepare(snap: Snapshot, body_sha256: str, received_at: datetime) -> PreparedSnapshot:
    """The snapshot with its samples as Arrow tables (the CPU work of a write, done before the store's lock)."""
    cols = sample_columns(snap)
    if cols is None:
        return PreparedSnapshot(snap, body_sha256, received_at, None, None)
    return PreparedSnapshot(
        snap, body_sha256, received_at, samples_table(snap.header, cols), features_table(snap.header, cols)
    )


def write_group(engine: sa.Engine, items: list[PreparedSnapshot]) -> list[IngestResult | Exception]:
    """Each snapshot's outcome: stored, duplicate or refused, in one transaction; each alone if that one fails."""
    try:
        with engine.begin() as conn:
            return list(ingest_group(conn, items))
    except Exception as exc:
        if len(items) == 1:
            return [exc]
        log.warning("a group of %d snapshots failed (%s); writing each alone", len(items), exc)
        return [write_group(engine, [item])[0] for item in items]


def ingest_group(conn: sa.Connection, items: list[PreparedSnapshot]) -> list[IngestResult | StoreError]:
    """Every row of the snapshots not yet stored, in the caller's transaction; each snapshot's outcome in order."""
    outcomes: dict[int, IngestResult | StoreError] = {}
    new = _new(conn, items, outcomes)
    full = _refuse_unknown_fingerprints(conn, items, new, outcomes)
    new = [n for n in new if n not in outcomes]
    _insert_fingerprints(conn, [items[n] for n in full.values() if n in new])
    inserted = _insert_snapshots(conn, [items[n] for n in new])
    stored = [n for n in new if items[n].key in inserted]
    for n in set(new) - set(stored):  # a concurrent writer stored it first (PostgreSQL)
        outcomes[n] = IngestResult(duplicate=True)
    counts = _insert_rows(conn, [items[n] for n in stored])
    for n, rows in zip(stored, counts, strict=True):
        fp_hash = items[n].snap.effective_fingerprint_hash
        outcomes[n] = IngestResult(duplicate=False, rows={"fingerprints": int(full.get(fp_hash or "") == n), **rows})
    return [outcomes[n] for n in range(len(items))]


def _new(
    conn: sa.Connection, items: list[PreparedSnapshot], outcomes: dict[int, IngestResult | StoreError]
) -> list[int]:
    """The positions of snapshots neither stored nor earlier in the group; the others' outcomes into ``outcomes``."""
    s = schema.snapshots
    keys = sorted({item.key for item in items})
    wanted = sa.or_(*(sa.and_(s.c.agent_id == agent, s.c.sequence == seq) for agent, seq in keys))
    found = conn.execute(sa.select(s.c.agent_id, s.c.sequence, s.c.body_sha256).where(wanted))
    bodies: dict[Key, str] = {(agent, seq): sha for agent, seq, sha in found}
    new = []
    for n, item in enumerate(items):
        stored = bodies.get(item.key)
        if stored is None:
            bodies[item.key] = item.body_sha256
            new.append(n)
        elif stored == item.body_sha256:
            outcomes[n] = IngestResult(duplicate=True)
        else:
            outcomes[n] = SequenceConflict(
                f"agent {item.key[0]} already sent sequence {item.key[1]} with a different "
                "body; two agents may share one id"
            )
    return new


def _refuse_unknown_fingerprints(
    conn: sa.Connection,
    items: list[PreparedSnapshot],
    new: list[int],
    outcomes: dict[int, IngestResult | StoreError],
) -> dict[str, int]:
    """Refuse the snapshots naming a fingerprint known neither to the store nor in full to the group.

    Returns each fingerprint the group brings in full, new to the store, with the first snapshot bringing it.
    """
    hashes = {h for n in new if (h := items[n].snap.effective_fingerprint_hash) is not None}
    f = schema.fingerprints
    known = set(conn.execute(sa.select(f.c.hash).where(f.c.hash.in_(sorted(hashes)))).scalars()) if hashes else set()
    full: dict[str, int] = {}
    for n in new:
        fingerprint = items[n].snap.fingerprint
        if fingerprint is not None and fingerprint.hash not in known:
            full.setdefault(fingerprint.hash, n)
    for n in new:
        fp_hash = items[n].snap.effective_fingerprint_hash
        if fp_hash is not None and fp_hash not in known and fp_hash not in full:
            outcomes[n] = UnknownFingerprint(f"fingerprint {fp_hash} is not known to this collector; send it in full")
    return full


def _insert_fingerprints(conn: sa.Connection, carriers: list[PreparedSnapshot]) -> None:
    full = sorted(
        ((item.snap.fingerprint, item.received_at) for item in carriers if item.snap.fingerprint is not None),
        key=lambda carried: carried[0].hash,
    )
    rows = [
        {"hash": fp.hash, "body": fp.model_dump_json(exclude={"hash"}), "first_seen": naive_utc(received_at)}
        for fp, received_at in full
    ]
    if rows:
        conn.execute(pg_insert(schema.fingerprints).values(rows).on_conflict_do_nothing())


def _placed(item: PreparedSnapshot) -> dict[str, Any]:
    """The columns every row of a snapshot's window carries: its key, its place and its window's times."""
    h = item.snap.header
    return {
        "agent_id": h.agent_id,
        "sequence": h.sequence,
        "service": h.service,
        "environment": h.environment,
        "window_start": naive_utc(h.window_start),
        "window_end": naive_utc(h.window_end),
    }


def _snapshot_row(item: PreparedSnapshot) -> dict[str, Any]:
    h = item.snap.header
    return {
        **_placed(item),
        "received_at": naive_utc(item.received_at),
        "agent_version": h.agent_version,
        "hostname": h.host.hostname,
        "pod": h.host.pod,
        "fingerprint_hash": item.snap.effective_fingerprint_hash,
        "body_sha256": item.body_sha256,
        "snapshots_lost": json.dumps(h.snapshots_lost, sort_keys=True) if h.snapshots_lost else None,
    }


def _insert_snapshots(conn: sa.Connection, items: list[PreparedSnapshot]) -> set[Key]:
    """Insert the snapshots' keys; the keys this transaction inserted (a concurrent writer may have won others)."""
    if not items:
        return set()
    s = schema.snapshots
    rows = sorted((_snapshot_row(item) for item in items), key=lambda row: (row["agent_id"], row["sequence"]))
    query = pg_insert(s).values(rows).on_conflict_do_nothing().returning(s.c.agent_id, s.c.sequence)
    return {(agent, seq) for agent, seq in conn.execute(query)}


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    present = [t for t in tables if t is not None]
    return pa.concat_tables(present) if present else None


def _insert_rows(conn: sa.Connection, items: list[PreparedSnapshot]) -> list[dict[str, int]]:
    """The rows below the snapshots' keys, one statement per table; each snapshot's row counts."""
    counts: list[dict[str, int]] = [{"snapshots": 1} for _ in items]
    windows = [_request_window(item) for item in items]
    _insert(conn, schema.request_windows, [w for w in windows if w is not None])
    gpus = [_gpu_rows(item) for item in items]
    _insert(conn, schema.gpu_windows, [row for rows in gpus for row in rows])
    for table, tables in (
        (schema.samples, [item.samples for item in items]),
        (schema.feature_columns, [item.features for item in items]),
    ):
        data = _concat(tables)
        if data is not None:
            bulk_insert(conn, table, data)
    for count, item, window, gpu in zip(counts, items, windows, gpus, strict=True):
        count["request_windows"] = int(window is not None)
        if item.samples is not None:
            count["samples"] = item.samples.num_rows
            count["feature_columns"] = item.features.num_rows if item.features is not None else 0
        if gpu:
            count["gpu_windows"] = len(gpu)
        snap = item.snap
        if snap.outcomes:
            h = snap.header
            count["outcomes"] = insert_outcomes(conn, h.service, h.environment, snap.outcomes, item.received_at)
    for count, probe_rows in zip(counts, insert_probes(conn, [item.snap for item in items]), strict=True):
        if probe_rows:
            count["probe_outputs"] = probe_rows
    return counts


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Rows of one table in one statement (as columns: DuckDB inserts row by row slowly)."""
    if rows:
        bulk_insert(conn, table, {name: [row[name] for row in rows] for name in rows[0]})


def _request_window(item: PreparedSnapshot) -> dict[str, Any] | None:
    req = item.snap.requests
    if req is None:
        return None
    return {
        **_placed(item),
        "requests": req.requests,
        "errors": sum(req.errors.values()),
        "errors_by_class": json.dumps(req.errors),
        "latency_bounds": json.dumps(req.latency_bucket_bounds_s),
        "latency_counts": json.dumps(req.latency_bucket_counts),
        "latency_sum_s": req.latency_sum_s,
    }


def _gpu_rows(item: PreparedSnapshot) -> list[dict[str, Any]]:
    h, gpu = item.snap.header, item.snap.gpu
    placed = _placed(item)
    del placed["window_start"]  # a GPU row is dated by its window's end alone
    return [
        {
            **placed,
            "hostname": h.host.hostname,
            "uuid": d.uuid,
            "gpu_index": d.index,
            "name": d.name,
            "lost": d.lost,
            "gpu_values": json.dumps(d.values),
        }
        for d in (gpu.devices if gpu else [])
    ]


def insert_outcomes(
    conn: sa.Connection, service: str, environment: str, items: list[Outcome], received_at: datetime
) -> int:
    """Outcomes of requests, in the caller's transaction (an outcome without a time takes ``received_at``)."""
    n = len(items)
    columns: Columns = {
        "service": [service] * n,
        "environment": [environment] * n,
        "request_id": [o.request_id for o in items],
        "outcome_num": [float(o.outcome) if isinstance(o.outcome, int | float) else None for o in items],
        "outcome_str": [o.outcome if isinstance(o.outcome, str) else None for o in items],
        "ts": [naive_utc(o.ts or received_at) for o in items],
    }
    return bulk_insert(conn, schema.outcomes, columns)
