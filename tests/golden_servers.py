"""Stand-in endpoints for golden probe tests, real HTTP on 127.0.0.1: a model server, a Feast-style feature server
with a cache, and a server that fails on request (slow, not JSON, an error status)."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from typing import Any

from stand_in_servers import loopback_server

Answer = tuple[int, bytes]  # status, body


def serve(answer: Callable[[Any], Answer]) -> AbstractContextManager[str]:
    """A loopback server whose POSTs are answered by ``answer(json body)``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, data = answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out is gone
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return loopback_server(Handler)


def model(offset: float) -> Callable[[Any], Answer]:
    """A fraud model answering ``{"instances": [{"amount": ...}]}``; its scores are off by ``offset`` (its hardware)."""

    def answer(body: Any) -> Answer:
        predictions = []
        for instance in body["instances"]:
            score = 1 / (1 + math.exp(-(instance["amount"] - 500) / 300)) + offset
            predictions.append({"score": score, "label": "fraud" if score >= 0.5 else "ok"})
        return 200, json.dumps({"predictions": predictions, "model": "v7"}).encode()

    return answer


class FeatureServer:
    """``get-online-features`` in Feast's answer shape, over a shared source, each value cached for ``ttl_s``."""

    def __init__(self, source: dict[tuple[str, int], float], ttl_s: float) -> None:
        self.source, self.ttl_s = source, ttl_s
        self._cache: dict[tuple[str, int], tuple[float, float]] = {}

    def _value(self, feature: str, entity: int) -> float:
        cached = self._cache.get((feature, entity))
        if cached is None or time.monotonic() - cached[1] >= self.ttl_s:
            cached = self.source[(feature, entity)], time.monotonic()
            self._cache[(feature, entity)] = cached
        return cached[0]

    def __call__(self, body: Any) -> Answer:
        ids = body["entities"]["user_id"]
        results = [{"values": ids, "statuses": ["PRESENT"] * len(ids)}]
        for feature in body["features"]:
            values = [self._value(feature, entity) for entity in ids]
            results.append({"values": values, "statuses": ["PRESENT"] * len(ids)})
        return 200, json.dumps(
            {"metadata": {"feature_names": ["user_id", *body["features"]]}, "results": results}
        ).encode()


def faulty(delay_s: float) -> Callable[[Any], Answer]:
    """Answers by the body's ``mode``: ``ok`` a score, ``slow`` late, ``text`` not JSON, ``error`` a 500."""

    def answer(body: Any) -> Answer:
        mode = body["mode"]
        if mode == "slow":
            time.sleep(delay_s)
        if mode == "text":
            return 200, b"<html>maintenance</html>"
        if mode == "error":
            return 500, b'{"error": "model not loaded"}'
        return 200, json.dumps({"predictions": [{"score": 0.25}]}).encode()

    return answer
