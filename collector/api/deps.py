"""What routes receive through ``Depends``: the collector's parts from ``app.state``, and authorisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from envparity.collector.auth import Authorizer
from envparity.collector.exporter.environment import TrafficCollector
from envparity.collector.exporter.ingest import CollectorMetrics
from envparity.collector.service import ParityService
from envparity.collector.store import Store


@dataclass(frozen=True)
class CollectorState:
    """The parts of one collector application, kept as ``app.state.collector``."""

    store: Store
    parity: ParityService
    metrics: CollectorMetrics
    traffic: TrafficCollector
    authorizer: Authorizer
    max_body_bytes: int


def _state(request: Request) -> CollectorState:
    state: CollectorState = request.app.state.collector
    return state


StateDep = Annotated[CollectorState, Depends(_state)]


def _store(state: StateDep) -> Store:
    return state.store


def _parity(state: StateDep) -> ParityService:
    return state.parity


StoreDep = Annotated[Store, Depends(_store)]
ParityDep = Annotated[ParityService, Depends(_parity)]


def require_read(request: Request, state: StateDep) -> None:
    """Refuse a request whose token may not query the API (401, 403)."""
    state.authorizer.check_read(request.headers.get("authorization"))


READ = [Depends(require_read)]  # the dependencies of every read route

WriteCheck = Callable[[str, str], None]  # (service, environment) -> None, or AuthError


def _write_check(request: Request, state: StateDep) -> WriteCheck:
    """The check that the request's token may write a service/environment, named by the body once parsed."""
    return partial(state.authorizer.check_write, request.headers.get("authorization"))


WriteCheckDep = Annotated[WriteCheck, Depends(_write_check)]
