"""The collector application: its parts on ``app.state``, its Prometheus collectors, its routers."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from envparity.collector.api.admission import DEFAULT_MAX_INFLIGHT, IngestSlots
from envparity.collector.api.body import DEFAULT_MAX_BODY_BYTES
from envparity.collector.api.deps import CollectorState
from envparity.collector.api.docs import describe
from envparity.collector.api.docs import router as doc_routes
from envparity.collector.api.errors import install_error_handlers
from envparity.collector.api.fingerprints import router as fingerprint_routes
from envparity.collector.api.group_commit import DEFAULT_MAX_GROUP, GroupCommit
from envparity.collector.api.ingest import BODY_MODELS
from envparity.collector.api.ingest import router as ingest_routes
from envparity.collector.api.login import router as login_routes
from envparity.collector.api.operations import router as operation_routes
from envparity.collector.api.parity import router as parity_routes
from envparity.collector.api.report import router as report_routes
from envparity.collector.auth import Authorizer
from envparity.collector.exporter.environment import FreshnessCollector, TrafficCollector
from envparity.collector.exporter.gpu import DEFAULT_STALE_AFTER, GpuCollector
from envparity.collector.exporter.ingest import CollectorMetrics
from envparity.collector.exporter.parity import ParityCollector
from envparity.collector.exporter.store import StoreMemoryCollector
from envparity.collector.service import ParityService
from envparity.collector.store import Store


def create_app(
    store: Store,
    authorizer: Authorizer | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    metrics: CollectorMetrics | None = None,
    parity: ParityService | None = None,
    max_inflight_ingests: int = DEFAULT_MAX_INFLIGHT,
    max_group: int = DEFAULT_MAX_GROUP,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> FastAPI:
    """The collector application over a store."""
    state = CollectorState(
        store=store,
        parity=parity or ParityService(store),
        metrics=metrics or CollectorMetrics(),
        traffic=TrafficCollector(stale_after),
        authorizer=authorizer or Authorizer(None),
        max_body_bytes=max_body_bytes,
        ingests=IngestSlots(max_inflight_ingests),
        writes=GroupCommit(store.ingest_group, max_group),
    )
    for collector in (
        ParityCollector(state.parity),
        GpuCollector(store, stale_after),
        state.traffic,
        FreshnessCollector(store, stale_after),
        StoreMemoryCollector(store),
    ):
        state.metrics.registry.register(collector)
    # The description and its pages are routes of doc_routes, behind a read token.
    app = FastAPI(title="envparity collector", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    app.openapi = partial(describe, app, BODY_MODELS)  # type: ignore[method-assign]
    app.state.collector = state
    for routes in (
        ingest_routes,
        parity_routes,
        fingerprint_routes,
        report_routes,
        login_routes,
        operation_routes,
        doc_routes,
    ):
        app.include_router(routes)
    install_error_handlers(app)
    return app
