"""The seam between the capture paths and what records their requests: ``RequestSink`` and ``WindowedSink``.

The ASGI and WSGI middleware and the log tail record into a sink, never into a
concrete agent. ``Agent`` satisfies both protocols; a bare ``Recorder`` is a
``RequestSink`` that keeps its windows in memory, which tests of capture code
use instead of a running agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from envparity.agent.recorder import Instance, OutcomeValue, Slot

__all__ = ["RequestSink", "WindowedSink"]


class RequestSink(Protocol):
    """Records requests and outcomes; the fields are those of ``Agent.record``."""

    def record(
        self,
        *,
        request_id: str | None = None,
        features: Mapping[str, object] | None = None,
        prediction: object = None,
        confidence: float | None = None,
        latency_s: float | None = None,
        model_version: str | None = None,
        error: str | None = None,
        ts: float | None = None,
    ) -> None:
        """Count one request that has ended and offer it to the window's sample."""

    def reserve(self) -> Slot | None:
        """A sample slot for a request that starts now; None when it is not sampled."""

    def finish(
        self,
        slot: Slot | None,
        *,
        request_id: str | None = None,
        instances: Sequence[Instance] | Callable[[], Sequence[Instance]] = (),
        latency_s: float | None = None,
        model_version: str | None = None,
        error: str | None = None,
    ) -> None:
        """Count a request begun with ``reserve()``; a sampled one fills its slot with its instances."""

    def record_outcome(self, request_id: str, outcome: OutcomeValue) -> None:
        """A label or outcome for an earlier request."""


class WindowedSink(RequestSink, Protocol):
    """A sink that seals what it records into windows, so that a reader can keep its position in step."""

    @property
    def seal_lock(self) -> AbstractContextManager[object]:
        """Held while a window is sealed: what is recorded under it lands wholly in one window."""

    def on_sealed(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (under ``seal_lock``) each time a window is safely stored."""
