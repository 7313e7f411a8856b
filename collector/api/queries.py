"""Query parameters checked before the service sees them: names, environment specs, windows, times.

What the service could not read (``production@bogus``, a window of a million
years, a time before 2000, a NUL that PostgreSQL cannot compare) is answered
with a one-line 400 or 422 and never reaches the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query

from envparity.agent.wire import EARLIEST
from envparity.collector.api.errors import ApiError
from envparity.collector.parity.windows import parse_duration


def _name() -> Any:
    """A service or environment name as a query parameter: any text PostgreSQL can hold (no NUL)."""
    return Query(min_length=1, max_length=256, pattern=r"^[^\x00]+$")


Name = Annotated[str, _name()]
OptionalName = Annotated[str | None, _name()]
MAX_SPAN = timedelta(days=3660)  # the longest window or offset into the past: ten years


def _span(text: str, what: str) -> timedelta:
    try:
        span = parse_duration(text)
    except ValueError as exc:
        raise ApiError(400, f"{what}: {exc}") from None
    except OverflowError:  # beyond what a timedelta holds
        span = timedelta.max
    if span > MAX_SPAN:
        raise ApiError(400, f"{what}: {text!r} is longer than {MAX_SPAN.days} days")
    return span


def environment_spec(spec: str) -> str:
    """``production`` or ``production@24h`` (an earlier window), refusing an offset the service cannot read."""
    _, _, offset = spec.partition("@")
    if offset:
        _span(offset, f"environment {spec!r}")
    return spec


def data_window(text: str | None) -> timedelta | None:
    """The data window asked for (``15m``, ``7d``), at most ten years."""
    return _span(text, "window") if text else None


def moment(at: datetime | None) -> datetime | None:
    """A time to evaluate at, in UTC (a time without offset is taken as UTC), not before 2000."""
    if at is None:
        return None
    try:
        at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    except OverflowError:
        raise ApiError(400, f"at: {at.isoformat()} is out of range") from None
    if at < EARLIEST:
        raise ApiError(400, f"at: {at.isoformat()} is before {EARLIEST.year}")
    return at
