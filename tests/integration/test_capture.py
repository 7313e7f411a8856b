"""Request capture without code changes: middleware, sidecar proxy, shadow mirroring, log tail.

Real uvicorn servers on loopback, a real collector; counts are checked exactly
at the collector after the agents delivered their windows.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_apps import model_app, serve, start_proxy, stop
from helpers import envparity_cmd, free_port

from envparity.agent import Agent, AgentSettings, EnvParityMiddleware
from envparity.agent.capture.extract import CaptureConfig, instances
from envparity.agent.capture.shadow import ShadowMirror


@pytest.fixture
def collector(start_collector, tmp_path: Path) -> Any:
    """A collector on a DuckDB file (the store backends are tested elsewhere)."""
    return start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}")


def make_agent(collector: Any, environment: str, spool: Path, sample_size: int = 1000) -> Agent:
    settings = AgentSettings.from_env(
        service="fraud", environment=environment, collector=collector.url, spool_dir=spool
    )
    return Agent(settings, window_s=3600, sample_size=sample_size, gpu_interval_s=None)


def collector_counts(url: str, environment: str) -> tuple[int, dict[str, int], int]:
    """(requests, errors by class, samples) the collector holds for fraud/ENVIRONMENT."""
    envs = {e["environment"]: e for e in httpx.get(f"{url}/v1/environments").json()["environments"]}
    env = envs.get(environment, {"requests": 0, "samples": 0})
    errors = {
        m.group(1): int(float(m.group(2)))
        for m in re.finditer(
            rf'envparity_request_errors_total\{{[^}}]*environment="{environment}",error_class="([^"]+)"[^}}]*\}} (\S+)',
            httpx.get(f"{url}/metrics").text,
        )
    }
    return env["requests"], errors, env["samples"]


def batch(i: int, n: int = 2) -> dict[str, Any]:
    return {"instances": [{"amount": 10 * i + j, "merchant": "grocery", "tags": ["a"]} for j in range(n)]}


def spooled_samples(agent: Agent) -> list[dict[str, Any]]:
    agent.seal_window()
    pending = sorted((agent.spool.root / "pending").glob("*.json.gz"))
    return [s for p in pending for s in json.loads(gzip.decompress(p.read_bytes())).get("samples") or []]


# --- extraction ---------------------------------------------------------------------


def test_extraction_of_the_common_protocols() -> None:
    cfg = CaptureConfig()
    tf = instances({"instances": [{"a": 1, "b": "x"}, [3, 4]]}, {"predictions": [[0.2, 0.8], 0.4]}, cfg)
    assert tf == [({"a": 1, "b": "x"}, 1, 0.8), ({"f0": 3, "f1": 4}, 0.4, None)]
    v2 = instances(
        {
            "inputs": [
                {"name": "amount", "shape": [2], "data": [5, 6]},
                {"name": "v", "shape": [2, 2], "data": [1, 2, 3, 4]},
            ]
        },
        {"outputs": [{"name": "p", "shape": [2], "data": [0.1, 0.9]}]},
        cfg,
    )
    assert v2 == [({"amount": 5, "v_0": 1, "v_1": 2}, 0.1, None), ({"amount": 6, "v_0": 3, "v_1": 4}, 0.9, None)]
    plain = instances({"features": {"x": 1}}, {"prediction": 1, "confidence": 0.7}, cfg)
    assert plain == [({"x": 1}, 1, 0.7)]
    pointed = CaptureConfig(
        features_pointer="/payload/rows", prediction_pointer="/out/labels", confidence_pointer="/out/p"
    )
    got = instances({"payload": {"rows": [{"x": 1}, {"x": 2}]}}, {"out": {"labels": [0, 1], "p": [0.6, 0.9]}}, pointed)
    assert got == [({"x": 1}, 0, 0.6), ({"x": 2}, 1, 0.9)]
    assert instances({"payload": {}}, {}, pointed) == []  # a pointer that does not resolve: nothing, no error
    assert cfg.matches("/v1/models/fraud:predict") and cfg.matches("/v2/models/fraud/infer")
    assert not cfg.matches("/health")


# --- middleware -----------------------------------------------------------------------


def test_middleware_counts_every_request_and_changes_no_response(collector, tmp_path: Path) -> None:
    agent = make_agent(collector, "production", tmp_path / "spool")
    with serve(EnvParityMiddleware(model_app(), agent)) as wrapped, serve(model_app()) as bare:
        with httpx.Client(timeout=10) as client:
            for i in range(20):
                headers = {"X-Request-ID": f"given-{i}"} if i % 2 else {}
                got = client.post(f"{wrapped}/v1/predict", json=batch(i), headers=headers)
                plain = client.post(f"{bare}/v1/predict", json=batch(i))
                assert got.status_code == 200 and got.content == plain.content
                assert got.headers["x-served-by"] == "model"
                if i % 2:
                    assert got.headers["x-request-id"] == f"given-{i}"
                else:
                    assert re.fullmatch(r"[0-9a-f]{32}", got.headers["x-request-id"])  # generated
            for _ in range(4):
                assert client.post(f"{wrapped}/v1/predict", json={"fail": True}).status_code == 500
            for _ in range(3):  # the app raises: uvicorn answers 500 or drops the connection, as without us
                with contextlib.suppress(httpx.TransportError):
                    assert httpx.post(f"{wrapped}/v1/predict", json={"raise": True}).status_code == 500
            for i in range(3):
                rows = {"inputs": [{"name": "amount", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4 + i]}]}
                assert client.post(f"{wrapped}/v2/models/fraud/infer", json=rows).status_code == 200
            for _ in range(5):
                assert client.get(f"{wrapped}/health").status_code == 200  # not a prediction route
        for _ in range(2):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{wrapped}/v1/predict", json={**batch(0), "sleep": 1.0}, timeout=0.2)
        time.sleep(1.5)  # the abandoned requests finish in the app
    samples = spooled_samples(agent)
    # every instance answered with 200 is a sample, those of the two abandoned requests too (the model did answer)
    assert len(samples) == 20 * 2 + 3 * 4 + 2 * 2
    assert sum(s["error"] == "client_disconnect" for s in samples) == 4
    one = next(s for s in samples if s["request_id"] == "given-1")
    assert one["features"] == {"amount": 10, "merchant": "grocery"} and one["prediction"] == 0.05
    assert one["confidence"] == 0.9 and one["latency_s"] > 0
    assert agent.close()
    requests, errors, stored = collector_counts(collector.url, "production")
    assert requests == 20 + 4 + 3 + 3 + 2
    assert errors == {"http_5xx": 4, "exception": 3, "client_disconnect": 2}
    assert stored == 56


def test_middleware_survives_a_broken_agent(tmp_path: Path) -> None:
    class Broken:
        def reserve(self) -> None:
            raise RuntimeError("agent bug")

        def finish(self, *_: Any, **__: Any) -> None:
            raise RuntimeError("agent bug")

    with serve(EnvParityMiddleware(model_app(), Broken())) as url:
        response = httpx.post(f"{url}/v1/predict", json=batch(1))
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2


# --- sidecar proxy -----------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def test_proxy_counts_exactly_and_streams_large_bodies(collector, tmp_path: Path) -> None:
    with serve(model_app()) as upstream:
        proc, proxy, _ = start_proxy(collector, upstream, tmp_path, "production", "--upstream-timeout", "1")
        with httpx.Client(timeout=10) as client:  # one keep-alive connection for all of them
            for i in range(10):
                got = client.post(f"{proxy}/v1/predict", json=batch(i, 1))
                assert (
                    got.status_code == 200
                    and got.json() == httpx.post(f"{upstream}/v1/predict", json=batch(i, 1)).json()
                )
            for _ in range(3):
                failed = client.post(f"{proxy}/v1/predict", json={"fail": True})
                assert failed.status_code == 500 and failed.json() == {"error": "model failed"}  # passed through
            for _ in range(2):
                assert client.post(f"{proxy}/v1/predict", json={**batch(0), "sleep": 2}).status_code == 504
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{proxy}/v1/predict", json={**batch(0), "sleep": 0.6}, timeout=0.2)
        time.sleep(1.0)
        before = peak_rss_mib(proc.pid)
        received = 0
        with httpx.stream("GET", f"{proxy}/big?mb=50", timeout=60) as response:
            for chunk in response.iter_raw():
                received += len(chunk)
        after = peak_rss_mib(proc.pid)
        assert received == 50 * 1024 * 1024
        assert after - before < 20, f"proxy peak RSS grew {after - before:.1f} MiB for a 50 MiB body"
        assert stop(proc) == 0  # SIGTERM: the last window is flushed before it exits
    requests, errors, samples = collector_counts(collector.url, "production")
    assert requests == 10 + 3 + 2 + 1
    assert errors == {"http_5xx": 3, "upstream_timeout": 2, "client_disconnect": 1}
    assert samples == 10 + 2  # the abandoned request was answered by the model: its two instances are samples


def test_proxy_unreachable_upstream_is_a_502(collector, tmp_path: Path) -> None:
    with serve(model_app()) as upstream:
        proc, proxy, _ = start_proxy(collector, upstream, tmp_path, "production")
    # the upstream is gone now
    assert httpx.post(f"{proxy}/v1/predict", json=batch(1)).status_code == 502
    assert stop(proc) == 0
    requests, errors, _ = collector_counts(collector.url, "production")
    assert requests == 1 and errors == {"upstream_unreachable": 1}


# --- shadow mirroring -----------------------------------------------------------------------


def agent_metric(port: int, name: str) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf'{name}\{{result="(\w+)"\}} (\S+)', text)}


def test_shadow_to_a_dead_staging_changes_nothing_for_clients(collector, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(model_app()) as upstream:
        proc, proxy, metrics = start_proxy(
            collector, upstream, tmp_path, "production", "--shadow", dead, "--shadow-fraction", "1"
        )
        for i in range(12):
            got = httpx.post(f"{proxy}/v1/predict", json=batch(i))
            assert got.status_code == 200 and got.json() == httpx.post(f"{upstream}/v1/predict", json=batch(i)).json()
        deadline = time.monotonic() + 20
        while agent_metric(metrics, "envparity_agent_shadow_requests_total").get("failed", 0) < 12:
            assert time.monotonic() < deadline, "shadow failures were not counted"
            time.sleep(0.2)
        assert stop(proc) == 0
    requests, errors, _ = collector_counts(collector.url, "production")
    assert requests == 12 and errors == {}


def test_shadow_traffic_feeds_shadow_agreement(collector, tmp_path: Path) -> None:
    staging_agent = make_agent(collector, "staging", tmp_path / "staging-spool")
    with serve(EnvParityMiddleware(model_app(), staging_agent)) as staging, serve(model_app()) as upstream:
        proc, proxy, metrics = start_proxy(
            collector, upstream, tmp_path, "production", "--shadow", staging, "--shadow-fraction", "1"
        )
        for i in range(40):
            assert httpx.post(f"{proxy}/v1/predict", json=batch(i, 1)).status_code == 200
        deadline = time.monotonic() + 20
        while agent_metric(metrics, "envparity_agent_shadow_requests_total").get("ok", 0) < 40:
            assert time.monotonic() < deadline, "shadow copies did not arrive"
            time.sleep(0.2)
        assert stop(proc) == 0
    assert staging_agent.close()
    parity = httpx.get(
        f"{collector.url}/v1/parity",
        params={"service": "fraud", "baseline": "production", "target": "staging", "fresh": "true"},
    ).json()
    shadow = next(c for c in parity["checks"] if c["check"] == "shadow_agreement")
    assert shadow["value"] == 1.0 and shadow["status"] == "ok" and "40" in shadow["detail"]


def test_shadow_bounds_copies_in_flight() -> None:
    mirror = ShadowMirror("http://127.0.0.1:9", 1.0, max_in_flight=0)
    mirror.mirror("POST", "/v1/predict", "", {}, b"{}")
    assert mirror.counts == {"dropped": 1}
    with pytest.raises(ValueError):
        ShadowMirror("http://x", 1.5)


# --- log tail ---------------------------------------------------------------------------------


def write_lines(path: Path, start: int, n: int, mode: str = "a") -> None:
    with path.open(mode) as f:
        for i in range(start, start + n):
            line = {
                "ts": datetime.now(UTC).isoformat(),
                "request_id": f"l{i}",
                "features": {"amount": i},
                "prediction": 0.5,
                "latency_ms": 12,
                "error": "timeout" if i % 10 == 0 else None,
            }
            f.write(json.dumps(line) + "\n")


def start_tail(collector: Any, log: Path, spool: Path, out: Path) -> subprocess.Popen:
    args = ["--log-file", str(log), "--collector", collector.url, "--service", "fraud", "--environment", "batch"]
    args += ["--spool", str(spool), "--window", "0.5", "--gpu-interval", "0"]
    with out.open("ab") as log_out:
        return subprocess.Popen(
            envparity_cmd("agent", "run", *args),
            stdout=log_out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"},
        )


def wait_for_requests(url: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while (got := collector_counts(url, "batch")[0]) < n:
        assert time.monotonic() < deadline, f"collector holds {got} of {n} log lines"
        time.sleep(0.2)


def test_log_tail_counts_each_line_once_across_rotation_truncation_and_a_crash(collector, tmp_path: Path) -> None:
    log, spool, out = tmp_path / "predictions.jsonl", tmp_path / "spool", tmp_path / "agent.log"
    write_lines(log, 0, 100)
    proc = start_tail(collector, log, spool, out)
    wait_for_requests(collector.url, 100)
    write_lines(log, 100, 20)  # the last lines of the old file
    log.rename(tmp_path / "predictions.jsonl.1")  # rotation
    write_lines(log, 120, 30)
    wait_for_requests(collector.url, 150)
    log.write_text("")  # truncation (copytruncate)
    write_lines(log, 150, 15)
    wait_for_requests(collector.url, 165)
    write_lines(log, 165, 40)
    time.sleep(0.3)
    proc.kill()  # a crash: whatever was read but not yet sealed is read again after the restart
    proc.wait()
    write_lines(log, 205, 10)
    proc = start_tail(collector, log, spool, out)
    wait_for_requests(collector.url, 215)
    time.sleep(1.5)  # a few more windows: nothing may arrive twice
    assert stop(proc) == 0
    requests, errors, samples = collector_counts(collector.url, "batch")
    assert (requests, samples) == (215, 215), out.read_text()[-2000:]
    assert errors == {"timeout": 22}


def test_disconnect_is_seen_on_servers_other_than_uvicorn() -> None:
    """A plain ``receive`` (no uvicorn request cycle behind it): a watcher task listens for the disconnect."""
    import asyncio

    from envparity.agent.recorder import Recorder

    recorder = Recorder(sample_size=10)
    app = EnvParityMiddleware(model_app(), recorder)

    async def one(leave: bool) -> None:
        gone = asyncio.Event()
        body = json.dumps({**batch(1), "sleep": 0.2}).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            return None

        scope = {
            "type": "http", "method": "POST", "path": "/v1/predict", "raw_path": b"/v1/predict",
            "headers": [(b"content-type", b"application/json")], "query_string": b"", "http_version": "1.1",
            "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "root_path": "",
        }  # fmt: skip
        task = asyncio.create_task(app(scope, receive, send))
        await asyncio.sleep(0.05)
        if leave:
            gone.set()
        await task

    async def both() -> None:
        await one(leave=True)
        await one(leave=False)

    asyncio.run(both())
    window = recorder.seal()
    assert window.requests.requests == 2 and window.requests.errors == {"client_disconnect": 1}
    assert len(window.samples) == 4  # two instances each: the model answered both


def test_wsgi_variant_counts_and_samples() -> None:
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from envparity.agent.capture.wsgi import EnvParityWSGIMiddleware
    from envparity.agent.recorder import Recorder

    def wsgi_model(environ: dict, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/health":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        if body.get("raise"):
            raise RuntimeError("model crashed")
        if body.get("fail"):
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [b'{"error": "model failed"}']
        answer = json.dumps({"predictions": [{"prediction": 0.5, "confidence": 0.8} for _ in body["instances"]]})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer.encode()]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

    recorder = Recorder(sample_size=100)
    server = make_server("127.0.0.1", free_port(), EnvParityWSGIMiddleware(wsgi_model, recorder), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        for i in range(5):
            response = httpx.post(f"{url}/v1/predict", json=batch(i), headers={"X-Request-ID": f"w{i}"})
            assert response.status_code == 200 and response.headers["x-request-id"] == f"w{i}"
            assert len(response.json()["predictions"]) == 2
        for _ in range(2):
            assert httpx.post(f"{url}/v1/predict", json={"fail": True}).status_code == 500
        assert httpx.post(f"{url}/v1/predict", json={"raise": True}).status_code == 500
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    window = recorder.seal()
    assert window.requests.requests == 8 and window.requests.errors == {"http_5xx": 2, "exception": 1}
    assert len(window.samples) == 10 and {s.request_id for s in window.samples} == {f"w{i}" for i in range(5)}
    assert window.samples[0].features["merchant"] == "grocery"


def test_log_timestamps_become_sample_times() -> None:
    from envparity.agent.capture.logtail import _timestamp

    expected = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    assert _timestamp("2026-11-23T00:00:00Z") == expected
    assert _timestamp("2026-11-23T01:00:00+01:00") == expected
    assert _timestamp("2026-11-23T00:00:00") == expected  # naive: UTC
    assert _timestamp(expected) == expected
    assert _timestamp("yesterday") is None and _timestamp(True) is None and _timestamp(None) is None
