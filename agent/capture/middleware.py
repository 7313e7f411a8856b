"""ASGI middleware that records prediction requests into an agent without touching the app.

Every request on a prediction route is counted (rate, errors by class, latency);
a request is parsed only when the agent's sampler reserved a place for it, and
only then are its request and response bodies copied (up to a bound) while they
stream through. The response is never changed, except that a request id is
generated and returned in ``X-Request-ID`` when the client sent none. Nothing
raised by the recording reaches the app; what the app raises goes through
unchanged.

Error classes: ``http_5xx`` (status >= 500), ``exception`` (the app raised),
``client_disconnect`` (the client went away before the response ended), and
whatever the wrapped app names in ``scope["state"]["envparity.error"]`` (the
proxy's ``upstream_timeout`` and ``upstream_unreachable``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from envparity.agent.capture.extract import CaptureConfig, instances
from envparity.agent.capture.shadow import ShadowMirror
from envparity.agent.recorder import Instance, Slot
from envparity.agent.sink import RequestSink

log = logging.getLogger("envparity.agent.capture")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ERROR_STATE = "envparity.error"
# Sampled bodies up to this size are kept as bytes and parsed at seal time (k slots x 16 KiB at most).
DEFER_PARSE_BYTES = 16 * 1024


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _json(body: bytes | None) -> Any:
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def sampled_instances(
    request: bytes | None, response: bytes | None, config: CaptureConfig
) -> Callable[[], list[Instance]] | list[Instance]:
    """A sampled request's instances, parsed from its bodies at seal time and only if it is still in the sample.

    Bodies beyond ``DEFER_PARSE_BYTES`` together are parsed now instead: memory stays bounded.
    """

    def parse() -> list[Instance]:
        return instances(_json(request), _json(response), config)

    return parse() if len(request or b"") + len(response or b"") > DEFER_PARSE_BYTES else parse


class _Exchange:
    """What one request leaves behind for the recording: status, copied bodies, how it ended."""

    def __init__(self, copy_bodies: bool, limit: int) -> None:
        self.copy_bodies, self.limit = copy_bodies, limit
        self.status: int | None = None
        self.request: list[bytes] = []
        self.response: list[bytes] = []
        self.request_size = self.response_size = 0
        self.request_complete = self.response_complete = False
        self.disconnected = False

    def on_request(self, message: Message) -> None:
        if message["type"] == "http.disconnect":
            self.disconnected = True
            return
        body = message.get("body", b"")
        self.request_size += len(body)
        if self.copy_bodies and self.request_size <= self.limit:
            self.request.append(body)
        self.request_complete = not message.get("more_body", False)

    def on_response(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.response_size += len(body)
            if self.copy_bodies and self.response_size <= self.limit:
                self.response.append(body)
            self.response_complete = not message.get("more_body", False)

    def bodies(self) -> tuple[bytes | None, bytes | None]:
        """The request and response bodies, or None where one was cut short or beyond the copy limit."""
        request = b"".join(self.request) if self.request_complete and self.request_size <= self.limit else None
        response = b"".join(self.response) if self.response_complete and self.response_size <= self.limit else None
        return request, response


def _disconnect_probe(receive: Receive) -> Callable[[], bool] | None:
    """With uvicorn, whether the client left before the response went out, read off the request cycle.

    uvicorn's ``receive`` is a method of its request cycle, whose ``disconnected`` and
    ``response_complete`` flags answer this for free; other servers get a task per
    request that listens for ``http.disconnect`` (``_watch_disconnect``), which costs
    tens of microseconds (``benchmarks/overhead.py``).
    """
    cycle = getattr(receive, "__self__", None)
    if cycle is None or not hasattr(cycle, "disconnected") or not hasattr(cycle, "response_complete"):
        return None
    return lambda: bool(cycle.disconnected and not cycle.response_complete)


async def _watch_disconnect(receive: Receive, exchange: _Exchange) -> None:
    """Mark the exchange when the client disconnects before the response is complete."""
    message = await receive()
    if message["type"] == "http.disconnect" and not exchange.response_complete:
        exchange.disconnected = True


class EnvParityMiddleware:
    """Wraps an ASGI app; records its prediction routes into the sink ``agent`` (default: ``Agent.from_env()``)."""

    def __init__(
        self,
        app: ASGIApp,
        agent: RequestSink | None = None,
        config: CaptureConfig | None = None,
        shadow: ShadowMirror | None = None,
    ) -> None:
        if agent is None:
            from envparity.agent.agent import Agent

            agent = Agent.from_env()
        self.app, self.agent, self.config, self.shadow = app, agent, config or CaptureConfig(), shadow
        self._id_header = self.config.request_id_header.lower().encode()
        self._version_header = self.config.model_version_header.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.shadow is not None:
            await self.app(scope, _closing(self.shadow, receive), send)
            return
        if scope["type"] != "http" or not self.config.matches(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        slot = self._reserve()
        mirror = self.shadow is not None and self.shadow.wants()
        exchange = _Exchange(slot is not None or mirror, self.config.max_body_bytes)
        found_id = _header(scope, self._id_header)
        request_id = found_id or f"{random.getrandbits(128):032x}"  # an id, not a secret
        if found_id is None:  # the app sees the generated id too
            scope = {**scope, "headers": [*scope.get("headers", []), (self._id_header, request_id.encode())]}

        probe = _disconnect_probe(receive)
        watcher: list[asyncio.Task[None]] = []

        async def receive_copy() -> Message:
            message = await receive()
            exchange.on_request(message)
            if probe is None and exchange.request_complete and not watcher:  # listen for the client leaving
                watcher.append(asyncio.get_running_loop().create_task(_watch_disconnect(receive, exchange)))
            return message

        async def send_copy(message: Message) -> None:
            if message["type"] == "http.response.start":  # the client always learns the id
                headers = list(message.get("headers", []))
                if not any(k.lower() == self._id_header for k, _ in headers):
                    message = {**message, "headers": [*headers, (self._id_header, request_id.encode())]}
            exchange.on_response(message)
            try:
                await send(message)
            except OSError:
                exchange.disconnected = True
                raise

        raised = False
        try:
            await self.app(scope, receive_copy, send_copy)
        except BaseException:
            raised = True
            raise
        finally:
            if watcher:
                watcher[0].cancel()
            if probe is not None and probe():
                exchange.disconnected = True
            self._finish(scope, slot, request_id, exchange, raised, time.perf_counter() - started)
            if mirror and self.shadow is not None:
                self._mirror(self.shadow, scope, request_id, exchange)

    def _reserve(self) -> Slot | None:
        try:
            return self.agent.reserve()
        except Exception:  # recording must never break serving
            log.exception("envparity: could not reserve a sample")
            return None

    def _finish(
        self, scope: Scope, slot: Slot | None, request_id: str, ex: _Exchange, raised: bool, latency_s: float
    ) -> None:
        try:
            error = (scope.get("state") or {}).get(ERROR_STATE)
            if error is None:
                if raised:
                    error = "exception"
                elif ex.disconnected:
                    error = "client_disconnect"
                elif ex.status is not None and ex.status >= 500:
                    error = "http_5xx"
            found: Sequence[Instance] | Callable[[], Sequence[Instance]] = []
            if slot is not None and ex.status is not None and ex.status < 400:
                found = sampled_instances(*ex.bodies(), self.config)
            self.agent.finish(
                slot,
                request_id=request_id,
                instances=found,
                latency_s=latency_s,
                model_version=_header(scope, self._version_header),
                error=error,
            )
        except Exception:  # recording must never break serving
            log.exception("envparity: could not record a request")

    def _mirror(self, shadow: ShadowMirror, scope: Scope, request_id: str, ex: _Exchange) -> None:
        try:
            if not ex.request_complete or ex.request_size > self.config.max_body_bytes:
                shadow.count("skipped")
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            headers[self.config.request_id_header] = request_id
            shadow.mirror(
                scope["method"], scope["path"], scope.get("query_string", b"").decode(), headers, b"".join(ex.request)
            )
        except Exception:
            log.exception("envparity: could not mirror a request")


def _closing(shadow: ShadowMirror, receive: Receive) -> Receive:
    """The lifespan's ``receive``, closing the shadow mirror when the server shuts down."""

    async def receive_lifespan() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            await shadow.aclose()
        return message

    return receive_lifespan
