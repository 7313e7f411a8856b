"""Golden probe answers in the store: written with their snapshots, read as each environment's latest per input.

A snapshot's ``probes`` section becomes one ``probe_outputs`` row per (input,
output), a number in ``output_num`` or a string in ``output_str``, and one row per
failed probe with its reason in ``error`` and no output. A window is read as the
newest value of each (input, output) in each environment, and the failures
counted by reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from envparity.agent.wire import Snapshot
from envparity.collector.parity.checks.golden import ProbeAnswers
from envparity.collector.parity.windows import split_environment
from envparity.collector.store import schema
from envparity.collector.store import sql as q
from envparity.collector.store.bulk import bulk_insert
from envparity.collector.store.sql import naive_utc

if TYPE_CHECKING:  # the store writes through this module (ingest)
    from envparity.collector.store.store import Store

_IN_WINDOW = "service = :service AND environment = :environment AND ts >= :start AND ts < :end"
_LATEST = f"""
SELECT input_id, output, output_num, output_str FROM (
    SELECT input_id, output, output_num, output_str,
           row_number() OVER (PARTITION BY input_id, output ORDER BY ts DESC, sequence DESC) AS newest
    FROM probe_outputs WHERE {_IN_WINDOW} AND output IS NOT NULL
) latest WHERE newest = 1
"""
_FAILURES = f"SELECT error, count(*) FROM probe_outputs WHERE {_IN_WINDOW} AND output IS NULL GROUP BY error"


_COLUMNS = (
    "agent_id",
    "sequence",
    "service",
    "environment",
    "ts",
    "input_id",
    "output",
    "output_num",
    "output_str",
    "error",
)


def insert_probes(conn: sa.Connection, snaps: Sequence[Snapshot]) -> list[int]:
    """The probe rows of the snapshots, in the caller's transaction, in one statement; each snapshot's row count."""
    rows = [_rows(snap) for snap in snaps]
    flat = [row for snap_rows in rows for row in snap_rows]
    if flat:
        bulk_insert(conn, schema.probe_outputs, {name: [row[i] for row in flat] for i, name in enumerate(_COLUMNS)})
    return [len(snap_rows) for snap_rows in rows]


def _rows(snap: Snapshot) -> list[tuple[Any, ...]]:
    h = snap.header
    key = (h.agent_id, h.sequence, h.service, h.environment)
    out: list[tuple[Any, ...]] = []
    for result in snap.probes.results if snap.probes else []:
        at = (*key, naive_utc(result.ts), result.id)
        if result.error is not None or not result.outputs:
            out.append((*at, None, None, None, result.error or "no_output"))
        out.extend(
            (*at, name, value if isinstance(value, float) else None, value if isinstance(value, str) else None, None)
            for name, value in result.outputs.items()
        )
    return out


def read_probes(store: Store, service: str, windows: dict[str, tuple[datetime, datetime]]) -> dict[str, ProbeAnswers]:
    """Each environment's golden answers over its window (``spec -> (start, end)``; a spec may carry an ``@offset``)."""
    with store.engine.connect() as conn:
        return {spec: _answers(conn, service, spec, start, end) for spec, (start, end) in windows.items()}


def _answers(conn: sa.Connection, service: str, spec: str, start: datetime, end: datetime) -> ProbeAnswers:
    name, offset = split_environment(spec)
    params = {
        "service": service,
        "environment": name,
        "start": naive_utc(start - offset),
        "end": naive_utc(end - offset),
    }
    outputs: dict[str, dict[str, float | str]] = {}
    for input_id, output, number, text in q.rows(conn, _LATEST, params):
        value = text if number is None else float(number)
        if value is not None:
            outputs.setdefault(input_id, {})[output] = value
    failures = {error: int(count) for error, count in q.rows(conn, _FAILURES, params)}
    return ProbeAnswers(outputs, failures)
