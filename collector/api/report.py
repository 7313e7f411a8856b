"""The report route: the HTML page of a pair's evaluation, with its history and a picker."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markupsafe import escape

from envparity.collector.api.deps import READ, ParityDep
from envparity.collector.report.html import render_report
from envparity.collector.service import NotFound

router = APIRouter(dependencies=READ)


@router.get("/report", response_class=HTMLResponse)
def report(
    parity: ParityDep,
    service: str | None = None,
    baseline: str | None = None,
    target: str | None = None,
    fresh: bool = False,
) -> HTMLResponse:
    """The stored evaluation of a pair (the first pair unless named); with ``fresh`` one made now."""
    try:
        view = parity.report(service, baseline, target, fresh)
    except NotFound as exc:
        return HTMLResponse(f"<!doctype html><title>envparity</title><p>{escape(str(exc))}</p>", 404)
    return HTMLResponse(render_report(view.evaluation, view.history, view.choices))
