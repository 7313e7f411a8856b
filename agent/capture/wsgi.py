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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from envparity.agent.capture.extract import CaptureConfig
from envparity.agent.capture.middleware import DEFER_PARSE_BYTES, read_later

log = logging.getLogger("envparity.agent.capture")


def _environ_key(header: str) -> str:
    """Where WSGI puts a request header in the environ."""
    return "HTTP_" + header.upper().replace("-", "_")


class _CopyingInput:
    """``wsgi.input`` that keeps a copy of what the app reads, up to a limit."""

    def __init__(self, stream: Any, limit: int) -> None:
        self.stream, self.limit, self.chunks, self.size = stream, limit, [], 0

    def _keep(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size <= self.limit:
            self.chunks.append(data)
        return data

    def read(self, *args: Any) -> bytes:
        return self._keep(self.stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._keep(self.stream.readline(*args))

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            yield self._keep(line)


class EnvParityWSGIMiddleware:
    """Wraps a WSGI app; records its prediction routes into ``agent`` (default: ``Agent.from_env()``)."""

    def __init__(self, app: Callable, agent: Any = None, config: CaptureConfig | None = None) -> None:
        if agent is None:
            from envparity.agent.agent import Agent

            agent = Agent.from_env()
        self.app, self.agent, self.config = app, agent, config or CaptureConfig()
        self._environ_key = _environ_key(self.config.request_id_header)
        self._version_key = _environ_key(self.config.model_version_header)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
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
        status: list[int] = []

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            status[:] = [int(status_line.split(" ", 1)[0])]
            if not any(k.lower() == self.config.request_id_header.lower() for k, _ in headers):
                headers = [*headers, (self.config.request_id_header, request_id)]
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            self._finish(slot, request_id, None, None, [], "exception", started, environ)
            raise
        return _Recorded(body, self, slot, request_id, copy, status, started, environ)

    def _finish(
        self,
        slot: Any,
        request_id: str,
        copy: _CopyingInput | None,
        status: int | None,
        response: list[bytes],
        error: str | None,
        started: float,
        environ: dict[str, Any],
    ) -> None:
        try:
            if error is None and status is not None and status >= 500:
                error = "http_5xx"
            found: Any = []
            if slot is not None and copy is not None and status is not None and status < 400:
                request = b"".join(copy.chunks) if copy.size <= copy.limit else None
                answer = b"".join(response) if sum(map(len, response)) <= self.config.max_body_bytes else None
                found = read_later(request, answer, self.config)
                if len(request or b"") + len(answer or b"") > DEFER_PARSE_BYTES:
                    found = found()
            self.agent.finish(
                slot,
                request_id=request_id,
                instances=found,
                latency_s=time.perf_counter() - started,
                model_version=environ.get(self._version_key),
                error=error,
            )
        except Exception:
            log.exception("envparity: could not record a request")


class _Recorded:
    """The app's response iterable, passed through; the request is recorded when the server closes it."""

    def __init__(self, body: Iterable[bytes], mw: EnvParityWSGIMiddleware, *state: Any) -> None:
        self.body, self.mw, self.state = body, mw, state
        self.chunks: list[bytes] = []
        self.size = 0
        self.error: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        slot = self.state[0]
        try:
            for chunk in self.body:
                if slot is not None and self.size <= self.mw.config.max_body_bytes:
                    self.size += len(chunk)
                    self.chunks.append(chunk)
                yield chunk
        except GeneratorExit:
            self.error = "client_disconnect"
            raise
        except BaseException:
            self.error = "exception"
            raise

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            slot, request_id, copy, status, started, environ = self.state
            code = status[0] if status else None
            self.mw._finish(slot, request_id, copy, code, self.chunks, self.error, started, environ)
