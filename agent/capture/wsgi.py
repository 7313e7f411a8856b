"""The WSGI variant of the capture middleware (Flask, Django and other WSGI model servers).

Same behaviour as ``EnvParityMiddleware``: prediction routes are counted, a
request is copied only when the sampler reserved a place for it and parsed at
seal time, the request id is read from or added to ``X-Request-ID``, the response
is passed through unchanged, and nothing the recording raises reaches the app.
The request is finished when the server closes the response iterable, so the
latency covers streaming the body.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from wsgiref.types import InputStream, StartResponse, WSGIApplication, WSGIEnvironment

from envparity.agent.capture.extract import CaptureConfig
from envparity.agent.capture.middleware import sampled_instances
from envparity.agent.recorder import Instance, Slot
from envparity.agent.sink import RequestSink

log = logging.getLogger("envparity.agent.capture")


def _environ_key(header: str) -> str:
    """Where WSGI puts a request header in the environ."""
    return "HTTP_" + header.upper().replace("-", "_")


class _CopyingInput:
    """``wsgi.input`` that keeps a copy of what the app reads, up to a limit."""

    def __init__(self, stream: InputStream, limit: int) -> None:
        self.stream, self.limit, self.size = stream, limit, 0
        self.chunks: list[bytes] = []

    def _keep(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size <= self.limit:
            self.chunks.append(data)
        return data

    def read(self, *size: int) -> bytes:
        return self._keep(self.stream.read(*size))

    def readline(self, *size: int) -> bytes:
        return self._keep(self.stream.readline(*size))

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            yield self._keep(line)

    def body(self) -> bytes | None:
        """What the app read, or None when it was beyond the limit."""
        return b"".join(self.chunks) if self.size <= self.limit else None


@dataclass
class _Call:
    """One request on a prediction route, from the app's call until the server closes the response."""

    slot: Slot | None
    request_id: str
    started: float
    model_version: str | None
    copy: _CopyingInput | None
    status: int | None = None
    response: list[bytes] = field(default_factory=list)
    response_size: int = 0
    error: str | None = None


class EnvParityWSGIMiddleware:
    """Wraps a WSGI app; records its prediction routes into the sink ``agent`` (default: ``Agent.from_env()``)."""

    def __init__(
        self, app: WSGIApplication, agent: RequestSink | None = None, config: CaptureConfig | None = None
    ) -> None:
        if agent is None:
            from envparity.agent.agent import Agent

            agent = Agent.from_env()
        self.app, self.agent, self.config = app, agent, config or CaptureConfig()
        self._environ_key = _environ_key(self.config.request_id_header)
        self._version_key = _environ_key(self.config.model_version_header)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self.config.matches(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            slot = self.agent.reserve()
        except Exception:
            log.exception("envparity: could not reserve a sample")
            slot = None
        request_id = environ.get(self._environ_key) or f"{random.getrandbits(128):032x}"
        environ[self._environ_key] = request_id
        copy = None
        if slot is not None:
            copy = environ["wsgi.input"] = _CopyingInput(environ["wsgi.input"], self.config.max_body_bytes)
        call = _Call(slot, request_id, started, environ.get(self._version_key), copy)

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            call.status = int(status_line.split(" ", 1)[0])
            if not any(k.lower() == self.config.request_id_header.lower() for k, _ in headers):
                headers = [*headers, (self.config.request_id_header, request_id)]
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            call.error, call.copy = "exception", None  # the app gave no answer: nothing to sample
            self._finish(call)
            raise
        return _Recorded(body, self, call)

    def _finish(self, call: _Call) -> None:
        try:
            error = call.error
            if error is None and call.status is not None and call.status >= 500:
                error = "http_5xx"
            found: Sequence[Instance] | Callable[[], Sequence[Instance]] = []
            if call.copy is not None and call.status is not None and call.status < 400:
                answer = b"".join(call.response) if call.response_size <= self.config.max_body_bytes else None
                found = sampled_instances(call.copy.body(), answer, self.config)
            self.agent.finish(
                call.slot,
                request_id=call.request_id,
                instances=found,
                latency_s=time.perf_counter() - call.started,
                model_version=call.model_version,
                error=error,
            )
        except Exception:
            log.exception("envparity: could not record a request")


class _Recorded:
    """The app's response iterable, passed through; the request is recorded when the server closes it."""

    def __init__(self, body: Iterable[bytes], mw: EnvParityWSGIMiddleware, call: _Call) -> None:
        self.body, self.mw, self.call = body, mw, call

    def __iter__(self) -> Iterator[bytes]:
        call = self.call
        try:
            for chunk in self.body:
                if call.slot is not None and call.response_size <= self.mw.config.max_body_bytes:
                    call.response_size += len(chunk)
                    call.response.append(chunk)
                yield chunk
        except GeneratorExit:
            call.error = "client_disconnect"
            raise
        except BaseException:
            call.error = "exception"
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.mw._finish(self.call)
