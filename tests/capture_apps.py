"""Model servers for the capture tests (a small ASGI prediction app under uvicorn in a thread) and the sidecar proxy."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from helpers import envparity_cmd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from envparity.localservers import free_port, wait_for_http

BIG_CHUNK = b"x" * (1024 * 1024)


def score(features: dict[str, Any]) -> float:
    """The model: a deterministic score from the features."""
    return round(min(1.0, max(0.0, float(features.get("amount", 0)) / 200.0)), 6)


async def predict(request: Request) -> JSONResponse:
    body = await request.json()
    if body.get("fail"):
        return JSONResponse({"error": "model failed"}, status_code=500)
    if body.get("raise"):
        raise RuntimeError("model crashed")
    if body.get("sleep"):
        await asyncio.sleep(float(body["sleep"]))
    predictions = [{"prediction": score(i), "confidence": 0.9} for i in body["instances"]]
    return JSONResponse({"predictions": predictions}, headers={"x-served-by": "model"})


async def v2_infer(request: Request) -> JSONResponse:
    body = await request.json()
    amounts = next(t["data"] for t in body["inputs"] if t["name"] == "amount")
    data = [score({"amount": a}) for a in amounts]
    return JSONResponse({"outputs": [{"name": "score", "shape": [len(data)], "datatype": "FP32", "data": data}]})


async def big(request: Request) -> StreamingResponse:
    megabytes = int(request.query_params.get("mb", "50"))

    async def chunks() -> Any:
        for _ in range(megabytes):
            yield BIG_CHUNK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def health(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def model_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/predict", predict, methods=["POST"]),
            Route("/v2/models/{name}/infer", v2_infer, methods=["POST"]),
            Route("/big", big),
            Route("/health", health),
        ]
    )


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` under uvicorn on a loopback port, in a thread; yields its URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def start_proxy(collector: Any, upstream: str, tmp_path: Path, environment: str, *extra: str) -> tuple[Any, str, int]:
    """``envparity agent proxy`` in front of ``upstream`` (one-hour windows unless ``extra`` says otherwise).

    Returns the process, the proxy's URL and its agent metrics port.
    """
    port, metrics = free_port(), free_port()
    with (tmp_path / f"proxy-{environment}.log").open("wb") as log:
        proc = _popen_proxy(collector, upstream, tmp_path, environment, port, metrics, log, extra)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/.envparity/ready", proc=proc)
    return proc, url, metrics


def _popen_proxy(
    collector: Any, upstream: str, tmp_path: Path, environment: str, port: int, metrics: int, log: Any, extra: tuple
) -> subprocess.Popen:
    return subprocess.Popen(
        envparity_cmd(
            "agent",
            "proxy",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            upstream,
            "--collector",
            collector.url,
            "--service",
            "fraud",
            "--environment",
            environment,
            "--spool",
            str(tmp_path / f"spool-{environment}"),
            "--window",
            "3600",
            "--gpu-interval",
            "0",
            "--metrics-port",
            str(metrics),
            *extra,
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, as Kubernetes stops a pod: the proxy finishes what is in flight and flushes its last window."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)
