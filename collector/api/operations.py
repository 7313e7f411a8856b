"""Operations routes: liveness and readiness (open), Prometheus metrics (a token if protected), what the store holds."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from envparity.collector.api.deps import METRICS, READ_ALL, ReaderDep, StateDep, StoreDep
from envparity.collector.api.errors import ApiError
from envparity.collector.exporter.gpu import exposition

log = logging.getLogger("envparity.collector")
router = APIRouter()


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(store: StoreDep) -> dict[str, str]:
    try:
        store.ping()
    except Exception as exc:  # any failure to reach the store means not ready
        log.warning("store not reachable: %s", exc)
        raise ApiError(503, f"store not reachable: {type(exc).__name__}") from None
    return {"status": "ready"}


@router.get("/metrics", dependencies=METRICS)
def metrics(state: StateDep) -> Response:
    return Response(exposition(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/store", dependencies=READ_ALL)
def store_info(store: StoreDep) -> dict[str, Any]:
    return {"backend": store.engine.dialect.name, "rows": store.row_counts()}


@router.get("/v1/environments")
def environments(store: StoreDep, reader: ReaderDep) -> dict[str, Any]:
    """The environments of the services the token may read."""
    return {"environments": [e for e in store.environments() if reader.may_read(e["service"])]}
