"""The collector's HTTP API (FastAPI): ingest, queries, health and metrics."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import escape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError

from envparity.agent.wire import NAME_PATTERN, Outcome, Snapshot
from envparity.collector.auth import AuthError, Authorizer
from envparity.collector.body import BodyError, parse_json, read_body
from envparity.collector.exporter.environment import FreshnessCollector, TrafficCollector
from envparity.collector.exporter.gpu import GpuCollector
from envparity.collector.exporter.ingest import CollectorMetrics
from envparity.collector.exporter.parity import ParityCollector
from envparity.collector.parity.fingerprint_diff import diff_fingerprints, diff_status
from envparity.collector.parity.windows import parse_duration, split_environment
from envparity.collector.report.html import render_report
from envparity.collector.service import REFERENCE_PREFIX, ParityService
from envparity.collector.store import SequenceConflict, Store, UnknownFingerprint

log = logging.getLogger("envparity.collector")

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]


class OutcomesBody(BaseModel):
    service: str = Field(pattern=NAME_PATTERN)
    environment: str = Field(pattern=NAME_PATTERN)
    outcomes: list[Outcome] = Field(min_length=1, max_length=100_000)


def create_app(
    store: Store,
    authorizer: Authorizer | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    metrics: CollectorMetrics | None = None,
    parity: ParityService | None = None,
) -> FastAPI:
    """The collector application over a store."""
    auth = authorizer or Authorizer(None)
    stats = metrics or CollectorMetrics()
    parity = parity or ParityService(store)
    stats.registry.register(ParityCollector(parity))
    stats.registry.register(GpuCollector(store))
    traffic = TrafficCollector()
    stats.registry.register(traffic)
    stats.registry.register(FreshnessCollector(store))
    app = FastAPI(title="envparity collector", version="1")
    app.state.store, app.state.metrics, app.state.parity = store, stats, parity

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.post("/v1/snapshots")
    async def ingest(request: Request) -> JSONResponse:
        started = time.perf_counter()
        response = await _ingest(request)
        stats.ingest_seconds.observe(time.perf_counter() - started)
        return response

    async def _ingest(request: Request) -> JSONResponse:
        try:
            body = await read_body(request.stream(), request.headers.get("content-encoding"), max_body_bytes)
            data = parse_json(body)
        except BodyError as exc:
            stats.snapshots.labels(outcome=f"rejected_{exc.status}").inc()
            return _error(exc.status, exc.message)
        try:
            snap = Snapshot.model_validate(data)
        except ValidationError as exc:
            stats.snapshots.labels(outcome="rejected_422").inc()
            errors = _validation_errors(exc)
            first = errors[0]
            return _error(422, f"invalid snapshot: {first['field']}: {first['message']}", errors=errors)
        header = snap.header
        try:
            auth.check_write(request.headers.get("authorization"), header.service, header.environment)
        except AuthError as exc:
            stats.snapshots.labels(outcome=f"rejected_{exc.status}").inc()
            raise
        try:
            result = await run_in_threadpool(store.ingest, snap, hashlib.sha256(body).hexdigest(), datetime.now(UTC))
        except (UnknownFingerprint, SequenceConflict) as exc:
            stats.snapshots.labels(outcome="rejected_409").inc()
            code = "unknown_fingerprint" if isinstance(exc, UnknownFingerprint) else "conflict"
            return _error(409, str(exc), code=code)
        stats.snapshots.labels(outcome="duplicate" if result.duplicate else "stored").inc()
        if not result.duplicate:
            traffic.add(snap, new_fingerprint=result.rows.get("fingerprints", 0) > 0)
        for table, count in result.rows.items():
            stats.rows.labels(table=table).inc(count)
        return JSONResponse(
            {
                "status": "ok",
                "duplicate": result.duplicate,
                "agent_id": header.agent_id,
                "sequence": header.sequence,
                "rows": result.rows,
            }
        )

    @app.get("/v1/environments")
    def environments(request: Request) -> dict[str, Any]:
        auth.check_read(request.headers.get("authorization"))
        return {"environments": store.environments()}

    @app.get("/v1/store")
    def store_info(request: Request) -> dict[str, Any]:
        auth.check_read(request.headers.get("authorization"))
        return {"backend": store.engine.dialect.name, "rows": store.row_counts()}

    @app.get("/v1/fingerprints", response_model=None)
    def fingerprint(request: Request, service: str, environment: str) -> Any:
        auth.check_read(request.headers.get("authorization"))
        fp = store.latest_fingerprint(service, environment)
        if fp is None:
            return _error(404, f"no fingerprint stored for {service}/{environment}")
        return fp.model_dump(mode="json")

    @app.get("/v1/fingerprints/diff", response_model=None)
    def fingerprint_diff(request: Request, service: str, baseline: str = Query(...), target: str = Query(...)) -> Any:
        auth.check_read(request.headers.get("authorization"))
        fps = store.latest_fingerprints(service, [baseline, target])
        missing = [env for env in (baseline, target) if env not in fps]
        if missing:
            return _error(404, f"no fingerprint stored for {service}/{', '.join(missing)}")
        items = diff_fingerprints(fps[baseline], fps[target])
        return {
            "service": service,
            "baseline": baseline,
            "target": target,
            "status": diff_status(items),
            "items": [i.as_dict() for i in items],
        }

    @app.get("/v1/parity", response_model=None)
    def parity_latest(
        request: Request,
        service: str,
        baseline: str,
        target: str,
        at: datetime | None = None,
        fresh: bool = False,
        window: str | None = None,
    ) -> Any:
        auth.check_read(request.headers.get("authorization"))
        try:
            span = parse_duration(window) if window else None
        except ValueError as exc:
            return _error(400, str(exc))
        if not fresh and at is None and window is None:
            stored = store.evaluations(service, baseline, target)
            if stored:
                return stored[0]
        if at is not None and not fresh:
            stored = store.evaluations(service, baseline, target, at=at)
            return (
                stored[0]
                if stored
                else _error(404, f"no evaluation of {service} {baseline} -> {target} at or before {at.isoformat()}")
            )
        missing = _unknown(service, baseline, target)
        if missing:
            return _error(404, missing)
        return parity.evaluate_pair(service, baseline, target, span, end=at).as_dict()

    def _unknown(service: str, *environments: str, names: dict[str, list[str]] | None = None) -> str | None:
        """A sentence naming the environments without data, or None."""
        known = (names if names is not None else store.environment_names()).get(service, [])
        missing = [
            e for e in environments if split_environment(e)[0] not in known and not e.startswith(REFERENCE_PREFIX)
        ]
        return f"no data for {service}/{', '.join(missing)}" if missing else None

    @app.get("/report", response_class=HTMLResponse)
    def report(
        request: Request,
        service: str | None = None,
        baseline: str | None = None,
        target: str | None = None,
        fresh: bool = False,
    ) -> HTMLResponse:
        auth.check_read(request.headers.get("authorization"))
        choices = store.environment_names()
        if not choices:
            return HTMLResponse("<!doctype html><title>envparity</title><p>No environment has reported yet.</p>", 404)
        service = service or sorted(choices)[0]
        if baseline is None or target is None:
            pairs = parity.config.pairs(service, choices.get(service, []))
            if not pairs:
                return HTMLResponse(f"<!doctype html><p>{escape(service)} has fewer than two environments.</p>", 404)
            baseline, target = baseline or pairs[0].baseline, target or pairs[0].target
        missing = _unknown(service, baseline, target, names=choices)
        if missing:
            return HTMLResponse(f"<!doctype html><title>envparity</title><p>{escape(missing)}</p>", 404)
        history = store.evaluations(service, baseline, target, limit=50)
        ev = (
            history[0]
            if history and not fresh
            else parity.evaluate_pair(service, baseline, target, save=False).as_dict()
        )
        return HTMLResponse(render_report(ev, history, choices))

    @app.get("/v1/parity/history")
    def parity_history(
        request: Request, service: str, baseline: str, target: str, limit: int = Query(100, ge=1, le=10_000)
    ) -> dict[str, Any]:
        auth.check_read(request.headers.get("authorization"))
        rows = store.evaluations(service, baseline, target, limit=limit)
        return {
            "service": service,
            "baseline": baseline,
            "target": target,
            "evaluations": [
                {k: r[k] for k in ("evaluated_at", "window_start", "window_end", "status", "score", "layer_scores")}
                for r in rows
            ],
        }

    @app.post("/v1/outcomes", response_model=None)
    async def outcomes(request: Request) -> Any:
        try:
            body = OutcomesBody.model_validate(
                parse_json(await read_body(request.stream(), request.headers.get("content-encoding"), max_body_bytes))
            )
        except BodyError as exc:
            return _error(exc.status, exc.message)
        except ValidationError as exc:
            errors = _validation_errors(exc)
            return _error(422, f"invalid outcomes: {errors[0]['field']}: {errors[0]['message']}", errors=errors)
        auth.check_write(request.headers.get("authorization"), body.service, body.environment)
        stored = await run_in_threadpool(store.add_outcomes, body.service, body.environment, body.outcomes)
        stats.rows.labels(table="outcomes").inc(stored)
        return {"status": "ok", "stored": stored}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", response_model=None)
    def ready() -> Any:
        try:
            store.ping()
        except Exception as exc:  # any failure to reach the store means not ready
            log.warning("store not reachable: %s", exc)
            return _error(503, f"store not reachable: {type(exc).__name__}")
        return {"status": "ready"}

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(stats.registry), media_type=CONTENT_TYPE_LATEST)

    return app
