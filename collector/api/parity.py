"""Parity routes: the evaluation of a pair (stored, at a time, or fresh) and its stored history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from envparity.collector.api.deps import READ, ParityDep, ReadableService, StoreDep
from envparity.collector.api.queries import Name, data_window, environment_spec, moment
from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary

router = APIRouter(dependencies=READ)


class ParityHistory(BaseModel):
    service: str
    baseline: str
    target: str
    evaluations: list[EvaluationSummary]  # newest first


@router.get("/v1/parity")
def parity_latest(
    parity: ParityDep,
    service: ReadableService,
    baseline: Name,
    target: Name,
    at: datetime | None = None,
    fresh: bool = False,
    window: Annotated[str | None, Query(max_length=64)] = None,
) -> EvaluationRecord:
    """The latest stored evaluation; with ``at`` the one then; with ``fresh`` or ``window`` one made now."""
    return parity.latest(
        service,
        environment_spec(baseline),
        environment_spec(target),
        at=moment(at),
        fresh=fresh,
        window=data_window(window),
    )


@router.get("/v1/parity/history")
def parity_history(
    store: StoreDep,
    service: ReadableService,
    baseline: Name,
    target: Name,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> ParityHistory:
    """The stored evaluations of a pair, newest first, without their checks."""
    rows = store.evaluations(service, baseline, target, limit=limit)
    return ParityHistory(service=service, baseline=baseline, target=target, evaluations=[r.summary() for r in rows])
