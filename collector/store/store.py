"""The collector's store: the writes (snapshots, outcomes, evaluations) and the queries the API answers.

One code path for DuckDB (a file, the default) and PostgreSQL (by URL), through
SQLAlchemy Core. A snapshot is written in one transaction, idempotent by (agent
id, sequence) (``ingest``); the engine's window of an environment is read by the
store's readers (``environment_reader``, ``feature_reader``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import registry

from envparity.agent.wire import Fingerprint, Outcome, Snapshot
from envparity.collector.parity.record import EvaluationRecord
from envparity.collector.store import schema
from envparity.collector.store.ingest import IngestResult, PreparedSnapshot, insert_outcomes, prepare, write_group
from envparity.collector.store.losses import AgentLosses, agent_losses, environment_losses
from envparity.collector.store.migrations import lock_schema, migrate
from envparity.collector.store.partitions import create_ahead, drop_before
from envparity.collector.store.resources import duckdb_config, memory_limit_bytes
from envparity.collector.store.sql import as_utc, naive_utc

# The DuckDB dialect named directly: found through package entry points, SQLAlchemy would scan
# every installed distribution's metadata first (about 0.15 s of each command's start).
registry.register("duckdb", "duckdb_engine", "Dialect")


def database_url(db_path: str | Path | None = None, url: str | None = None) -> str:
    """The SQLAlchemy URL for a DuckDB file path or an explicit URL."""
    if url:
        return url
    if db_path is None:
        raise ValueError("give a DuckDB file path or a database URL")
    return f"duckdb:///{Path(db_path).expanduser().resolve()}"


class Store:
    """Snapshots, fingerprints, request windows and samples in one database."""

    def __init__(self, url: str, duckdb_memory_limit: str | None = None) -> None:
        self.url = url
        self.is_duckdb = url.startswith("duckdb")
        # DuckDB's memory and threads bounded (default: 1 GiB or a quarter of the memory, whichever is smaller).
        self.memory_limit = memory_limit_bytes(duckdb_memory_limit) if self.is_duckdb else None  # DuckDB's
        connect_args = {"config": duckdb_config(duckdb_memory_limit)} if self.is_duckdb else {}
        self.engine = sa.create_engine(url, pool_pre_ping=not self.is_duckdb, connect_args=connect_args)
        # DuckDB has one writer per process; serialising writes avoids conflict aborts.
        self._write_lock = threading.Lock() if self.is_duckdb else None
        try:
            migrate(self.engine)
        except Exception:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # --- writes ---------------------------------------------------------------

    def ingest(self, snap: Snapshot, body_sha256: str, received_at: datetime) -> IngestResult:
        """Store a snapshot in one transaction, exactly once per (agent, sequence)."""
        result = self.ingest_group([prepare(snap, body_sha256, received_at)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def ingest_group(self, items: list[PreparedSnapshot]) -> list[IngestResult | Exception]:
        """Store prepared snapshots in one transaction (group commit); each one's outcome (``ingest.write_group``)."""
        with self._writing():
            return write_group(self.engine, items)

    def add_outcomes(self, service: str, environment: str, items: list[Outcome]) -> int:
        """Outcomes posted directly (``POST /v1/outcomes``), joined to predictions by request id."""
        with self._writing(), self.engine.begin() as conn:
            return insert_outcomes(conn, service, environment, items, datetime.now(UTC))

    def _writing(self) -> contextlib.AbstractContextManager[object]:
        return self._write_lock if self._write_lock is not None else contextlib.nullcontext()

    def save_evaluations(self, evaluations: list[EvaluationRecord]) -> list[str]:
        """Store evaluations of a window in one transaction; returns their ids."""
        rows = [
            {
                "id": str(uuid.uuid4()),
                "service": e.service,
                "baseline": e.baseline,
                "target": e.target,
                "evaluated_at": naive_utc(e.evaluated_at or datetime.now(UTC)),
                "window_start": naive_utc(e.window_start) if e.window_start else None,
                "window_end": naive_utc(e.window_end) if e.window_end else None,
                "status": e.status,
                "score": e.score,
                "body": e.model_dump_json(),
            }
            for e in evaluations
        ]
        if rows:
            with self._writing(), self.engine.begin() as conn:
                conn.execute(schema.evaluations.insert(), rows)
        return [str(r["id"]) for r in rows]

    # --- queries ----------------------------------------------------------------

    def evaluations(
        self, service: str, baseline: str, target: str, at: datetime | None = None, limit: int = 1
    ) -> list[EvaluationRecord]:
        """Stored evaluations of a pair, newest first (at or before ``at`` when given)."""
        e = schema.evaluations
        query = sa.select(e.c.body).where(e.c.service == service, e.c.baseline == baseline, e.c.target == target)
        if at is not None:
            query = query.where(e.c.evaluated_at <= naive_utc(at))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(e.c.evaluated_at.desc()).limit(limit)).scalars().all()
        return [EvaluationRecord.model_validate_json(r) for r in rows]

    def environment_names(self) -> dict[str, list[str]]:
        """Service -> environments with any snapshot."""
        s = schema.snapshots
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(s.c.service, s.c.environment).distinct()).all()
        names: dict[str, list[str]] = {}
        for service, environment in rows:
            names.setdefault(service, []).append(environment)
        return {k: sorted(v) for k, v in sorted(names.items())}

    def latest_gpu_windows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The newest window of every GPU (by service, environment and UUID); with ``since``, of every GPU
        whose newest window ended then or later."""
        g = schema.gpu_windows
        recent = [g.c.window_end >= naive_utc(since)] if since is not None else []
        newest = (
            sa.select(g.c.service, g.c.environment, g.c.uuid, sa.func.max(g.c.window_end).label("w"))
            .where(*recent)
            .group_by(g.c.service, g.c.environment, g.c.uuid)
            .subquery()
        )
        query = sa.select(g).join(
            newest,
            sa.and_(
                g.c.service == newest.c.service,
                g.c.environment == newest.c.environment,
                g.c.uuid == newest.c.uuid,
                g.c.window_end == newest.c.w,
            ),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**r, "gpu_values": json.loads(r["gpu_values"])} for r in rows]

    def freshness(self, since: datetime) -> list[dict[str, Any]]:
        """Per service and environment: when the newest snapshot arrived, and agents heard from since ``since``."""
        s = schema.snapshots
        recent = sa.case((s.c.received_at >= naive_utc(since), s.c.agent_id))
        query = sa.select(
            s.c.service,
            s.c.environment,
            sa.func.max(s.c.received_at).label("last_received"),
            sa.func.count(sa.distinct(recent)).label("fresh_agents"),
        ).group_by(s.c.service, s.c.environment)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**r, "last_received": as_utc(r["last_received"])} for r in rows]

    def environments(self) -> list[dict[str, Any]]:
        """Per service and environment: agents, last seen, counts, current fingerprint, snapshots lost or missing.

        ``snapshots_lost``: what the agents report they lost before delivery, by reason;
        ``snapshots_missing``: sequence numbers missing among the snapshots stored (``store.losses``).
        """
        s, rw = schema.snapshots, schema.request_windows
        with self.engine.connect() as conn:
            losses = {(a.service, a.environment, a.agent_id): a for a in agent_losses(conn)}
            snaps = conn.execute(
                sa.select(
                    s.c.service,
                    s.c.environment,
                    s.c.agent_id,
                    sa.func.max(s.c.received_at).label("last_seen"),
                    sa.func.count().label("snapshots"),
                ).group_by(s.c.service, s.c.environment, s.c.agent_id)
            ).all()
            reqs = {
                (r.service, r.environment): (r.requests, r.errors)
                for r in conn.execute(
                    sa.select(
                        rw.c.service,
                        rw.c.environment,
                        sa.func.sum(rw.c.requests).label("requests"),
                        sa.func.sum(rw.c.errors).label("errors"),
                    ).group_by(rw.c.service, rw.c.environment)
                )
            }
            hashes = {(r.service, r.environment): r.fingerprint_hash for r in conn.execute(sa.select(_latest_hashes()))}
            sample_counts = {
                (r.service, r.environment): r.n
                for r in conn.execute(
                    sa.select(
                        schema.samples.c.service, schema.samples.c.environment, sa.func.count().label("n")
                    ).group_by(schema.samples.c.service, schema.samples.c.environment)
                )
            }
        envs: dict[tuple[str, str], dict[str, Any]] = {}
        for r in snaps:
            env = envs.setdefault(
                (r.service, r.environment),
                {
                    "service": r.service,
                    "environment": r.environment,
                    "agents": [],
                    "snapshots": 0,
                    "last_seen": None,
                },
            )
            # an agent's first snapshot may arrive between the two queries
            loss = losses.get((r.service, r.environment, r.agent_id)) or AgentLosses(r.service, r.environment, "")
            env["agents"].append(
                {
                    "agent_id": r.agent_id,
                    "last_seen": as_utc(r.last_seen),
                    "snapshots": r.snapshots,
                    "snapshots_lost": loss.lost,
                    "snapshots_missing": loss.missing,
                }
            )
            env["snapshots"] += r.snapshots
            env["last_seen"] = max(filter(None, [env["last_seen"], as_utc(r.last_seen)]))
        sums = environment_losses(losses.values())
        for (service, environment), env in envs.items():
            loss = sums.get((service, environment)) or AgentLosses(service, environment, "")
            env["snapshots_lost"], env["snapshots_missing"] = loss.lost, loss.missing
            requests, errors = reqs.get((service, environment), (0, 0))
            env["requests"], env["errors"] = int(requests or 0), int(errors or 0)
            env["samples"] = int(sample_counts.get((service, environment), 0))
            env["fingerprint_hash"] = hashes.get((service, environment))
        return sorted(envs.values(), key=lambda e: (e["service"], e["environment"]))

    def latest_fingerprints(self, service: str, environments: list[str]) -> dict[str, Fingerprint]:
        """The latest fingerprint of each environment that has one, in one query."""
        s, f = schema.snapshots, schema.fingerprints
        latest = _latest_hashes(s.c.service == service, s.c.environment.in_(environments))
        query = sa.select(latest.c.environment, latest.c.fingerprint_hash, f.c.body).join(
            f, f.c.hash == latest.c.fingerprint_hash
        )
        with self.engine.connect() as conn:
            return {env: _fingerprint(fp_hash, body) for env, fp_hash, body in conn.execute(query)}

    def latest_fingerprint(self, service: str, environment: str) -> Fingerprint | None:
        return self.latest_fingerprints(service, [environment]).get(environment)

    def memory_used(self) -> int | None:
        """Bytes DuckDB's buffer manager holds now (None on another database)."""
        if not self.is_duckdb:
            return None
        with self.engine.connect() as conn:
            used = conn.execute(sa.text("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"))
            return int(used.scalar_one())

    def row_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (
                    schema.snapshots,
                    schema.fingerprints,
                    schema.request_windows,
                    schema.samples,
                    schema.feature_columns,
                    schema.outcomes,
                    schema.evaluations,
                    schema.gpu_windows,
                )
            }

    def prune(self, before: datetime) -> dict[str, int]:
        """Delete observations older than ``before``, and fingerprints no snapshot refers to.

        On PostgreSQL whole days of the partitioned tables are dropped first, in a transaction of its own
        (``partitions``), after creating the days ahead; what is not partitioned is deleted row by row.
        """
        cutoff = naive_utc(before)
        with self.engine.begin() as conn:
            lock_schema(conn)
            create_ahead(conn, datetime.now(UTC))
            deleted = drop_before(conn, cutoff)
        with self.engine.begin() as conn:
            for table, column in schema.RETAINED:
                if table.name not in deleted:
                    deleted[table.name] = conn.execute(table.delete().where(column < cutoff)).rowcount
            referenced = sa.select(schema.snapshots.c.fingerprint_hash).where(
                schema.snapshots.c.fingerprint_hash.is_not(None)
            )
            deleted["fingerprints"] = conn.execute(
                schema.fingerprints.delete().where(schema.fingerprints.c.hash.not_in(referenced))
            ).rowcount
        return deleted


def _latest_hashes(*where: sa.ColumnElement[bool]) -> sa.Subquery:
    """Each (service, environment)'s latest fingerprint hash: its last window's, the last received on ties."""
    s = schema.snapshots
    order = (s.c.window_end.desc(), s.c.received_at.desc())
    ranked = (
        sa.select(
            s.c.service,
            s.c.environment,
            s.c.fingerprint_hash,
            sa.func.row_number().over(partition_by=(s.c.service, s.c.environment), order_by=order).label("rank"),
        )
        .where(s.c.fingerprint_hash.is_not(None), *where)
        .subquery()
    )
    return (
        sa.select(ranked.c.service, ranked.c.environment, ranked.c.fingerprint_hash)
        .where(ranked.c.rank == 1)
        .subquery()
    )


@lru_cache(maxsize=256)
def _fingerprint(fp_hash: str, body: str) -> Fingerprint:
    """A stored fingerprint (its hash names one body for good, so each is parsed once)."""
    return Fingerprint.model_validate({**json.loads(body), "hash": fp_hash})
