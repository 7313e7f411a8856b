"""A streaming reverse proxy (ASGI on uvicorn, aiohttp to the upstream) for model servers in any language.

Request and response bodies stream through in chunks, never buffered whole
(the recording middleware copies only sampled bodies, up to its bound); the
connections to the upstream are kept alive between requests. The upstream
client is aiohttp rather than httpx because it costs a third of the time per
request (measured: 0.57 ms against 1.9 ms on loopback, ``benchmarks/overhead.py``). Upstream answers,
5xx included, pass through as they are; an upstream that does not answer in
time gets a 504 and one that cannot be reached a 502, each with the error class
named for the middleware in ``scope["state"]["envparity.error"]``.

Headers pass through as the upstream sent them except hop-by-hop ones and
``Date``: the server the proxy runs on dates every response itself (one ``Date``,
from the proxy's clock, as a forwarding recipient must send) and adds no
``Server`` of its own (``envparity agent proxy`` runs uvicorn without one), so
the upstream's is the only one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import yarl
from multidict import CIMultiDict

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
# Response headers not passed back: hop-by-hop ones, and Date, which the server under the proxy sets.
NOT_PASSED_BACK = HOP_BY_HOP | {b"date"}


class ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


class ReverseProxy:
    """Forwards every HTTP request to ``upstream`` (a base URL) and streams the answer back."""

    def __init__(self, upstream: str, timeout_s: float = 30.0, connect_timeout_s: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on the serving loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

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
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope.get("headers", [])
            if k.lower() not in HOP_BY_HOP
        ]
        client = scope.get("client")
        if client:
            headers.append(("X-Forwarded-For", client[0]))
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        try:
            response = await self._client().request(
                scope["method"],
                yarl.URL(url + (f"?{query}" if query else ""), encoded=True),
                headers=CIMultiDict(headers),
                data=content,
                allow_redirects=False,
            )
        except ClientGone:
            _state(scope)[ERROR_STATE] = "client_disconnect"
            return
        except TimeoutError:
            await self._fail(scope, send, 504, "upstream_timeout")
            return
        except aiohttp.ClientError:
            await self._fail(scope, send, 502, "upstream_unreachable")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(k, v) for k, v in response.raw_headers if k.lower() not in NOT_PASSED_BACK],
                }
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            _state(scope)[ERROR_STATE] = "upstream_timeout"
        except aiohttp.ClientError:
            _state(scope)[ERROR_STATE] = "upstream_unreachable"
        finally:
            response.release()

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
                if self._session is not None:
                    await self._session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state
