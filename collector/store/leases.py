"""Which replica evaluates each service in a scheduled cycle: the first to claim (service, cycle) in the store.

Replicas sharing a database number cycles alike: the database's clock in Unix
seconds, divided by the cycle's length. Before reading a service, a replica
inserts (service, cycle) into ``evaluation_claims``; the one whose insert finds the
row there skips the service, so each pair is evaluated once per cycle across the
replicas, and replicas that start a cycle together share its services. A replica
that dies mid-cycle loses its claims of that cycle only: the next cycle's are open
to every replica. A claim records when its evaluations were stored
(``finished_at``); claims go with retention. On DuckDB, one process, every claim
succeeds.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from envparity.collector.store import schema
from envparity.collector.store.sql import naive_utc


def replica_name() -> str:
    """This process among the replicas: host and process id."""
    return f"{socket.gethostname()}/{os.getpid()}"


class Leases:
    """Claims of services per cycle of ``every_s`` seconds, by one replica."""

    def __init__(self, engine: sa.Engine, every_s: float, replica: str | None = None) -> None:
        if every_s <= 0:
            raise ValueError(f"a cycle lasts more than 0 s, not {every_s}")
        self.engine, self.every_s, self.replica = engine, every_s, replica or replica_name()

    def cycle(self) -> int:
        """The current cycle's number, by the database's clock."""
        with self.engine.connect() as conn:
            now = conn.execute(sa.select(sa.extract("epoch", sa.func.now()))).scalar_one()
        return int(float(now) // self.every_s)

    def claim(self, service: str, cycle: int) -> bool:
        """Whether this replica evaluates ``service`` in ``cycle``: True once, for the first to ask."""
        c = schema.evaluation_claims
        row = {"service": service, "cycle": cycle, "replica": self.replica, "claimed_at": naive_utc(datetime.now(UTC))}
        with self.engine.begin() as conn:
            won = conn.execute(pg_insert(c).values(row).on_conflict_do_nothing().returning(c.c.service)).first()
        return won is not None

    def finish(self, service: str, cycle: int) -> None:
        """Record that the claim's evaluations are stored."""
        c = schema.evaluation_claims
        with self.engine.begin() as conn:
            conn.execute(
                c.update()
                .where(c.c.service == service, c.c.cycle == cycle)
                .values(finished_at=naive_utc(datetime.now(UTC)))
            )
