"""Parity routes: the evaluation of a pair (stored, at a time, or fresh) and its stored history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from envparity.collector.api.deps import READ, ParityDep, StoreDep
from envparity.collector.api.errors import ApiError
from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary
from envparity.collector.parity.windows import parse_duration

router = APIRouter(dependencies=READ)


class ParityHistory(BaseModel):
    service: str
    baseline: str
    target: str
    evaluations: list[EvaluationSummary]  # newest first


def _duration(window: str | None) -> timedelta | None:
    try:
        return parse_duration(window) if window else None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


@router.get("/v1/parity")
def parity_latest(
    parity: ParityDep,
    service: str,
    baseline: str,
    target: str,
    at: datetime | None = None,
    fresh: bool = False,
    window: str | None = None,
) -> EvaluationRecord:
    """The latest stored evaluation; with ``at`` the one then; with ``fresh`` or ``window`` one made now."""
    return parity.latest(service, baseline, target, at=at, fresh=fresh, window=_duration(window))


@router.get("/v1/parity/history")
def parity_history(
    store: StoreDep,
    service: str,
    baseline: str,
    target: str,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> ParityHistory:
    """The stored evaluations of a pair, newest first, without their checks."""
    rows = store.evaluations(service, baseline, target, limit=limit)
    return ParityHistory(service=service, baseline=baseline, target=target, evaluations=[r.summary() for r in rows])
