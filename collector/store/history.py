"""What the probable causes read from the past: environments' fingerprint histories and the previous streaks.

``fingerprint_histories`` gives, per environment, each fingerprint in the order
they came, dated by the window of the first snapshot that carried it (consecutive
snapshots with one hash are one entry); ``failing_since`` gives what the newest
stored evaluation of a pair recorded as the start of each failing symptom's streak.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from envparity.collector.store import schema
from envparity.collector.store.sql import naive_utc
from envparity.collector.store.store import _fingerprint

if TYPE_CHECKING:
    from envparity.agent.wire import Fingerprint
    from envparity.collector.store.store import Store

MAX_CHANGES = 100  # the newest fingerprint changes read per environment


def _seeds(conn: sa.Connection, service: str, environments: list[str], since: datetime) -> dict[str, tuple[str, str]]:
    """Per environment, the fingerprint (hash, body) of its newest snapshot before ``since``: what it ran then."""
    s, f = schema.snapshots, schema.fingerprints
    seeds = {}
    for env in environments:  # one top-1 read each: an index range on PostgreSQL, a filtered scan on DuckDB
        query = (
            sa.select(s.c.fingerprint_hash, f.c.body)
            .join(f, f.c.hash == s.c.fingerprint_hash)
            .where(s.c.service == service, s.c.environment == env, s.c.window_end < naive_utc(since))
            .order_by(s.c.window_end.desc(), s.c.received_at.desc())
            .limit(1)
        )
        row = conn.execute(query).one_or_none()
        if row is not None:
            seeds[env] = (row[0], row[1])
    return seeds


def fingerprint_histories(
    store: Store, service: str, environments: list[str], until: datetime, since: datetime | None = None
) -> dict[str, list[tuple[datetime, Fingerprint]]]:
    """Per environment, its newest ``MAX_CHANGES`` fingerprints up to ``until``, oldest first.

    Each is dated by the start of the window of the first snapshot that carried it after
    another one (or none): when the environment began running with it. With ``since``, only
    snapshots from then on are read (the cycle's cost stays that of the recent past, not of
    the retention period); the history then starts with the fingerprint the environment ran
    before ``since``, dated ``since``, so that a change just after it is still one.
    """
    s, f = schema.snapshots, schema.fingerprints
    order = (s.c.window_end, s.c.received_at)
    bounds = [s.c.window_end <= naive_utc(until)] + ([s.c.window_end >= naive_utc(since)] if since else [])
    ordered = (
        sa.select(
            s.c.environment,
            s.c.window_start,
            s.c.fingerprint_hash,
            sa.func.lag(s.c.fingerprint_hash).over(partition_by=s.c.environment, order_by=order).label("before"),
            sa.func.row_number().over(partition_by=s.c.environment, order_by=order).label("position"),
        )
        .where(s.c.service == service, s.c.environment.in_(environments), s.c.fingerprint_hash.is_not(None), *bounds)
        .subquery()
    )
    changed = ordered.c.before.is_(None) | (ordered.c.before != ordered.c.fingerprint_hash)
    newest = (
        sa.select(
            ordered.c.environment,
            ordered.c.window_start,
            ordered.c.fingerprint_hash,
            ordered.c.position,
            sa.func.row_number()
            .over(partition_by=ordered.c.environment, order_by=ordered.c.position.desc())
            .label("recency"),
        )
        .where(changed)
        .subquery()
    )
    query = (
        sa.select(newest.c.environment, newest.c.window_start, newest.c.fingerprint_hash, f.c.body, newest.c.position)
        .join(f, f.c.hash == newest.c.fingerprint_hash)
        .where(newest.c.recency <= MAX_CHANGES)
        .order_by(newest.c.environment, newest.c.position)
    )
    histories: dict[str, list[tuple[datetime, Fingerprint]]] = {env: [] for env in environments}
    with store.engine.connect() as conn:
        seeds = _seeds(conn, service, environments, since) if since else {}
        for env, start, fp_hash, body, position in conn.execute(query):
            if position == 1 and env in seeds and since is not None:  # the history reaches back to ``since``
                histories[env].append((since.astimezone(UTC), _fingerprint(*seeds[env])))
            histories[env].append((start.replace(tzinfo=UTC), _fingerprint(fp_hash, body)))  # naive UTC
    return histories


def failing_since(store: Store, service: str, baseline: str, target: str, until: datetime) -> dict[str, datetime]:
    """Symptom -> start of its failing streak, as the newest evaluation of the pair at or before ``until`` says.

    Empty when there is none, or when it was stored before evaluations ranked causes.
    """
    e = schema.evaluations
    query = (
        sa.select(e.c.body)
        .where(e.c.service == service, e.c.baseline == baseline, e.c.target == target)
        .where(e.c.evaluated_at <= naive_utc(until))
        .order_by(e.c.evaluated_at.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        body = conn.execute(query).scalar_one_or_none()
    causes = (json.loads(body).get("probable_causes") or {}) if body else {}
    return {name: datetime.fromisoformat(at) for name, at in causes.get("failing_since", {}).items()}
