"""Error answers of the API: a JSON body ``{"error": sentence, ...}`` with the HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from envparity.collector.auth import AuthError
from envparity.collector.service import NotFound

MAX_LISTED_ERRORS = 100  # a body with 100,000 invalid samples is answered with the first hundred


class ApiError(Exception):
    """A request the API refuses: the status, a sentence, further fields of the answer, and headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def invalid(what: str, errors: Sequence[Any]) -> ApiError:
    """422 naming the first invalid field of ``what``, with the errors listed (pydantic's error dicts)."""
    listed = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in errors[:MAX_LISTED_ERRORS]
    ]
    first = listed[0]
    return ApiError(
        422, f"invalid {what}: {first['field']}: {first['message']}", errors=listed, error_count=len(errors)
    )


async def _answer(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.headers, **exc.extra)
    if isinstance(exc, AuthError):
        return error_response(exc.status, exc.message)
    if isinstance(exc, RequestValidationError):
        refused = invalid("request", exc.errors())
        return error_response(refused.status, refused.message, **refused.extra)
    return error_response(404, str(exc))  # NotFound


def install_error_handlers(app: FastAPI) -> None:
    """Answer ApiError, AuthError (401, 403), invalid parameters (422) and NotFound (404) as JSON errors."""
    for kind in (ApiError, AuthError, RequestValidationError, NotFound):
        app.add_exception_handler(kind, _answer)
