"""The report route: the HTML page of a pair's evaluation, with its history and a picker of what the token may read.

A browser without a token or a session is sent to log in (``collector.api.login``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from envparity.collector.api.deps import ParityDep, StoreDep
from envparity.collector.api.login import PageReaderDep, login_needed
from envparity.collector.api.queries import OptionalName, environment_spec
from envparity.collector.auth import TokenEntry
from envparity.collector.report.html import render_report
from envparity.collector.service import NotFound

router = APIRouter()


def _readable(choices: dict[str, list[str]], reader: TokenEntry) -> dict[str, list[str]]:
    return {service: envs for service, envs in choices.items() if reader.may_read(service)}


def _page(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>envparity</title><p>{escape(message)}</p>", 404)


@router.get("/report", response_class=HTMLResponse)
def report(
    request: Request,
    parity: ParityDep,
    store: StoreDep,
    reader: PageReaderDep,
    service: OptionalName = None,
    baseline: OptionalName = None,
    target: OptionalName = None,
    fresh: bool = False,
) -> Response:
    """The stored evaluation of a pair (the first pair the token may read unless named); with ``fresh`` one made now."""
    if reader is None:
        return login_needed(request)
    if service is None:
        service = next(iter(_readable(store.environment_names(), reader)), None)
        if service is None:
            return _page("No environment has reported yet.")
    reader.require_read(service)
    try:
        view = parity.report(
            service,
            baseline and environment_spec(baseline),
            target and environment_spec(target),
            fresh,
        )
    except NotFound as exc:
        return _page(str(exc))
    return HTMLResponse(render_report(view.evaluation, view.history, _readable(view.choices, reader)))
