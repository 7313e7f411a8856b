"""The sidecar proxy's own endpoints, under a prefix no model serves: answered by the proxy, never forwarded.

| path                 | answer                                                                        |
|----------------------|-------------------------------------------------------------------------------|
| /.envparity/health   | 200 while the proxy serves (liveness)                                          |
| /.envparity/ready    | 200 when the upstream accepts a connection, else 503 (readiness)               |
| /.envparity/<other>  | 404                                                                            |

Everything else goes to the wrapped app (the recording middleware around the
proxy), so these probes are neither forwarded nor counted as requests.
"""

from __future__ import annotations

import asyncio
import contextlib

import yarl

from envparity.agent.capture.middleware import ASGIApp, Receive, Scope, Send

PREFIX = "/.envparity/"
CONNECT_TIMEOUT_S = 1.0


async def _answer(send: Send, status: int, text: str) -> None:
    body = f"{text}\n".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ProxyEndpoints:
    """Answers ``/.envparity/*`` itself and hands every other request to ``app``."""

    def __init__(self, app: ASGIApp, upstream: str) -> None:
        self.app = app
        url = yarl.URL(upstream)
        self._host, self._port = url.host or "127.0.0.1", url.port or 80

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name = scope["path"][len(PREFIX) :]
        if name == "health":
            await _answer(send, 200, "ok")
        elif name == "ready":
            ready = await self._upstream_accepts()
            await _answer(send, 200 if ready else 503, "ready" if ready else "upstream not reachable")
        else:
            await _answer(send, 404, "not found")

    async def _upstream_accepts(self) -> bool:
        """Whether the upstream accepts a TCP connection (nothing is sent to it)."""
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self._host, self._port), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
