"""The sidecar proxy: every request kept below the sample size, one Date and Server header, its own endpoints.

A real proxy process in front of a real uvicorn model server, delivering to a
real collector on a DuckDB file that is read after the collector stopped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from capture_apps import model_app, serve, start_proxy, stop
from helpers import REPO, free_port

from envparity.agent import Agent
from envparity.cli import build_parser


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def collector(start_collector, store: Path) -> Any:
    return start_collector(f"duckdb:///{store}")


async def _send_all(proxy: str, ids: list[str], concurrency: int) -> set[str]:
    """POST one prediction per id, ``concurrency`` at a time; the ids answered with 200."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)

    async def one(client: httpx.AsyncClient, i: int, request_id: str) -> str | None:
        body = {"instances": [{"amount": i % 200}], "sleep": 0.002 * (i % 10)}
        async with gate:
            got = await client.post(f"{proxy}/v1/predict", json=body, headers={"X-Request-ID": request_id})
        return request_id if got.status_code == 200 else None

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        answered = await asyncio.gather(*(one(client, i, r) for i, r in enumerate(ids)))
    return {r for r in answered if r is not None}


def stored_request_ids(collector: Any, store: Path, environment: str) -> list[str]:
    collector.kill(signal.SIGTERM)
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("SELECT request_id FROM samples WHERE environment = ?", [environment]).fetchall()
    return [r for (r,) in rows]


def test_below_the_sample_size_every_request_is_kept(collector, store: Path, tmp_path: Path) -> None:
    """Windows sealed every 0.2 s while 24 requests are in flight: none of them may fall out of the sample."""
    ids = [f"req-{i:04d}" for i in range(600)]
    with serve(model_app()) as upstream:
        proc, proxy, _ = start_proxy(collector, upstream, tmp_path, "production", "--window", "0.2")
        answered = asyncio.run(_send_all(proxy, ids, concurrency=24))
        assert stop(proc) == 0
    assert answered == set(ids)
    stored = stored_request_ids(collector, store, "production")
    assert sorted(stored) == ids, f"{len(set(ids) - set(stored))} answered requests missing from the sample"


def raw_headers(url: str, request: bytes) -> list[str]:
    """The header lines of the answer to ``request``, sent as raw HTTP/1.1 bytes, lower-cased names."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return [line.split(":", 1)[0].lower() for line in head]


GET_HEALTH = b"GET /health HTTP/1.1\r\nHost: model\r\nConnection: close\r\n\r\n"
BODY = json.dumps({"instances": [{"amount": 5}]}).encode()
POST_PREDICT = (
    b"POST /v1/predict HTTP/1.1\r\nHost: model\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n".encode()
    + BODY
)


def test_one_date_and_one_server_header(collector, tmp_path: Path) -> None:
    with serve(model_app()) as upstream:
        proc, proxy, _ = start_proxy(collector, upstream, tmp_path, "production")
        for request in (GET_HEALTH, POST_PREDICT):
            direct, proxied = raw_headers(upstream, request), raw_headers(proxy, request)
            assert (direct.count("date"), direct.count("server")) == (1, 1)  # uvicorn upstream: "server: uvicorn"
            assert (proxied.count("date"), proxied.count("server")) == (1, 1), proxied
    assert raw_headers(proxy, GET_HEALTH).count("date") == 1  # the proxy's own 502 is dated once too
    assert stop(proc) == 0


def sidecar() -> dict[str, Any]:
    """The proxy container of the Kustomize sidecar component."""
    patch = yaml.safe_load((REPO / "deploy/kustomize/components/sidecar/deployment-patch.yaml").read_text())
    return next(c for c in patch["spec"]["template"]["spec"]["containers"] if c["name"] == "envparity-proxy")


def test_health_and_readiness_are_the_proxys_own(collector, tmp_path: Path) -> None:
    with serve(model_app()) as upstream:
        proc, proxy, _ = start_proxy(collector, upstream, tmp_path, "production", "--paths", "/*")
        assert httpx.get(f"{proxy}/.envparity/health").text == "ok\n"
        assert httpx.get(f"{proxy}/.envparity/ready").status_code == 200
        for probe in ("livenessProbe", "readinessProbe"):  # what the deployed sidecar's probes ask is answered
            assert httpx.get(f"{proxy}{sidecar()[probe]['httpGet']['path']}").status_code == 200, probe
        assert httpx.get(f"{proxy}/.envparity/other").status_code == 404
        assert httpx.get(f"{proxy}/health").status_code == 200  # the model's own path is still the model's
    ready = httpx.get(f"{proxy}/.envparity/ready")  # the upstream is gone
    assert ready.status_code == 503 and "upstream" in ready.text
    assert httpx.get(f"{proxy}/.envparity/health").status_code == 200  # alive all the same
    assert stop(proc) == 0
    environments = httpx.get(f"{collector.url}/v1/environments").json()["environments"]
    assert [e["requests"] for e in environments] == [1]  # every path recorded: only the forwarded /health counts


def test_agent_metrics_bind_to_the_address_asked_for(collector, tmp_path: Path) -> None:
    """127.0.0.2 is a loopback address of its own: scraped there, refused on 127.0.0.1."""
    with serve(model_app()) as upstream:
        proc, _, metrics = start_proxy(collector, upstream, tmp_path, "production", "--metrics-host", "127.0.0.2")
        scraped = httpx.get(f"http://127.0.0.2:{metrics}/metrics")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{metrics}/metrics")
        assert stop(proc) == 0
    assert scraped.status_code == 200 and "envparity_agent_windows_sealed_total" in scraped.text
    deployed = build_parser().parse_args(sidecar()["args"])  # the sidecar component's agent metrics: scrapeable
    ports = {p["name"]: p["containerPort"] for p in sidecar()["ports"]}
    assert deployed.metrics_host == "0.0.0.0" and ports["agent-metrics"] == deployed.metrics_port


def test_agent_metrics_host_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("ENVPARITY_METRICS_HOST", "127.0.0.2")
    monkeypatch.setenv("ENVPARITY_METRICS_PORT", str(port))
    agent = Agent.from_env(
        service="fraud", environment="staging", collector="http://127.0.0.1:9", spool_dir=tmp_path, start=False
    )
    try:
        assert "envparity_agent_windows_sealed_total" in httpx.get(f"http://127.0.0.2:{port}/metrics").text
    finally:
        agent.close(timeout=0)
