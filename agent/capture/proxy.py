"""A streaming reverse proxy (ASGI, httpx) for model servers in any language: the sidecar.

Request and response bodies stream through in chunks, never buffered whole
(the recording middleware copies only sampled bodies, up to its bound); the
connection to the upstream is kept alive between requests. Upstream answers,
5xx included, pass through as they are; an upstream that does not answer in
time gets a 504 and one that cannot be reached a 502, each with the error class
named for the middleware in ``scope["state"]["envparity.error"]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from envparity.agent.capture.middleware import ERROR_STATE, Message, Receive, Scope, Send

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
}


class ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


class ReverseProxy:
    """Forwards every HTTP request to ``upstream`` (a base URL) and streams the answer back."""

    def __init__(self, upstream: str, timeout_s: float = 30.0, connect_timeout_s: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            follow_redirects=False,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        first = await receive()
        if first["type"] == "http.disconnect":
            return
        content: bytes | AsyncIterator[bytes] = (
            self._body(first, receive) if first.get("more_body") else first.get("body", b"")
        )
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in HOP_BY_HOP]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode()))
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        request = self.client.build_request(
            scope["method"], url + (f"?{query}" if query else ""), headers=headers, content=content
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            await self._fail(scope, send, 504, "upstream_timeout")
            return
        except ClientGone:
            _state(scope)[ERROR_STATE] = "client_disconnect"
            return
        except httpx.HTTPError:
            await self._fail(scope, send, 502, "upstream_unreachable")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.TimeoutException:
            _state(scope)[ERROR_STATE] = "upstream_timeout"
        except httpx.HTTPError:
            _state(scope)[ERROR_STATE] = "upstream_unreachable"
        finally:
            await response.aclose()

    @staticmethod
    async def _body(first: Message, receive: Receive) -> AsyncIterator[bytes]:
        yield first.get("body", b"")
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            yield message.get("body", b"")
            if not message.get("more_body"):
                return

    @staticmethod
    async def _fail(scope: Scope, send: Send, status: int, error: str) -> None:
        _state(scope)[ERROR_STATE] = error
        body = f"envparity proxy: {error.replace('_', ' ')}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})
