"""HTTP servers on loopback that stand in for a collector (or an OTLP endpoint) in the agent's tests.

``loopback_server`` serves any request handler, over TLS when given a context;
``snapshot_server`` answers each snapshot an agent pushes with a function of its
sequence number and body.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import ssl
import threading
from collections.abc import Callable, Iterator

Answer = Callable[[int, bytes], tuple[int, bytes]]  # (sequence, gzip body) -> (status, JSON body)


@contextlib.contextmanager
def loopback_server(
    handler: type[http.server.BaseHTTPRequestHandler], context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """A threading server on 127.0.0.1 serving ``handler`` (HTTPS with ``context``); yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "http" if context is None else "https"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def snapshot_server(answer: Answer, context: ssl.SSLContext | None = None) -> contextlib.AbstractContextManager[str]:
    """A loopback server answering each POSTed snapshot with ``answer``; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, payload = answer(json.loads(gzip.decompress(body))["header"]["sequence"], body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    return loopback_server(Handler, context)
