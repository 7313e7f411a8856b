"""What the agents lost before delivery, per agent: what they report, and the sequence numbers the store lacks.

An agent reports its losses so far in every snapshot's header (``snapshots_lost``,
wire 1.1: cumulative per agent, by reason), so the newest snapshot that carries
them holds the agent's count. Missing sequence numbers are those between the
first and the last snapshot the store holds of an agent that it does not hold:
lost, or still on their way (a snapshot retried later than the ones behind it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from envparity.collector.store import schema


@dataclass
class AgentLosses:
    service: str
    environment: str
    agent_id: str
    lost: dict[str, int] = field(default_factory=dict)  # reason -> snapshots, as the agent reports them
    missing: int = 0  # sequence numbers missing between the agent's first and last stored snapshot


def agent_losses(conn: sa.Connection) -> list[AgentLosses]:
    """Every agent's reported losses and missing sequence numbers, in one pass over the snapshots."""
    s = schema.snapshots
    spans = sa.select(
        s.c.service,
        s.c.environment,
        s.c.agent_id,
        (sa.func.max(s.c.sequence) - sa.func.min(s.c.sequence) + 1 - sa.func.count()).label("missing"),
    ).group_by(s.c.service, s.c.environment, s.c.agent_id)
    newest = (
        sa.select(s.c.agent_id, sa.func.max(s.c.sequence).label("sequence"))
        .where(s.c.snapshots_lost.is_not(None))
        .group_by(s.c.agent_id)
        .subquery()
    )
    reports = sa.select(s.c.agent_id, s.c.snapshots_lost).join(
        newest, sa.and_(s.c.agent_id == newest.c.agent_id, s.c.sequence == newest.c.sequence)
    )
    lost = {agent_id: json.loads(body) for agent_id, body in conn.execute(reports)}
    return [
        AgentLosses(r.service, r.environment, r.agent_id, lost.get(r.agent_id, {}), int(r.missing))
        for r in conn.execute(spans)
    ]


def environment_losses(agents: Iterable[AgentLosses]) -> dict[tuple[str, str], AgentLosses]:
    """The agents' losses added up per (service, environment); ``agent_id`` is empty in the sums."""
    sums: dict[tuple[str, str], AgentLosses] = {}
    for agent in agents:
        env = sums.setdefault((agent.service, agent.environment), AgentLosses(agent.service, agent.environment, ""))
        env.missing += agent.missing
        for reason, count in agent.lost.items():
            env.lost[reason] = env.lost.get(reason, 0) + count
    return sums
