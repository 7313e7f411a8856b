"""What routes receive through ``Depends``: the collector's parts from ``app.state``, and the token's scopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from envparity.collector.api.admission import IngestSlots
from envparity.collector.api.group_commit import GroupCommit
from envparity.collector.api.queries import Name
from envparity.collector.api.sessions import Sessions
from envparity.collector.auth import Authorizer, TokenEntry
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
    ingests: IngestSlots
    writes: GroupCommit
    sessions: Sessions = field(default_factory=Sessions)  # browsers logged in to the report


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


def _reader(request: Request, state: StateDep) -> TokenEntry:
    """The request's token, refused unless it may read some service (401, 403)."""
    return state.authorizer.reader(request.headers.get("authorization"))


ReaderDep = Annotated[TokenEntry, Depends(_reader)]
READ = [Depends(_reader)]  # the dependencies of every read route


def _readable_service(service: Name, reader: ReaderDep) -> str:
    reader.require_read(service)
    return service


# The query parameter ``service``, refused (403) unless the token may read it.
ReadableService = Annotated[str, Depends(_readable_service)]


def _require_read_all(reader: ReaderDep) -> None:
    reader.require_read_all()


READ_ALL = [Depends(_require_read_all)]  # routes that answer about every service at once


def _require_metrics(request: Request, state: StateDep) -> None:
    state.authorizer.check_metrics(request.headers.get("authorization"))


METRICS = [Depends(_require_metrics)]
