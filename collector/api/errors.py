"""Error answers of the API: a JSON body ``{"error": sentence, ...}`` with the HTTP status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from envparity.collector.auth import AuthError
from envparity.collector.service import NotFound


class ApiError(Exception):
    """A request the API refuses: the status, a sentence, and further fields of the answer."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def invalid(what: str, exc: ValidationError) -> ApiError:
    """422 naming the first invalid field of ``what``, with every error listed."""
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    return ApiError(422, f"invalid {what}: {errors[0]['field']}: {errors[0]['message']}", errors=errors)


async def _answer(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, **exc.extra)
    if isinstance(exc, AuthError):
        return error_response(exc.status, exc.message)
    return error_response(404, str(exc))  # NotFound


def install_error_handlers(app: FastAPI) -> None:
    """Answer ApiError, AuthError (401, 403) and the service's NotFound (404) as JSON errors."""
    for kind in (ApiError, AuthError, NotFound):
        app.add_exception_handler(kind, _answer)
