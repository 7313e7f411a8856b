"""The continuous agent against a real collector: windows, forks, kill -9, dead letters, telemetry."""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import duckdb
import httpx
import pytest
from helpers import SOURCES, free_port
from stand_in_servers import loopback_server

from envparity.agent import Agent, AgentSettings
from envparity.agent.settings import SettingsFields


def settings(url: str, spool: Path, environment: str = "staging", **kw) -> AgentSettings:
    return AgentSettings(
        service="fraud", environment=environment, collector=url, spool_dir=spool, sources=SOURCES, **kw
    )


def environments(url: str) -> dict[str, dict]:
    return {e["environment"]: e for e in httpx.get(f"{url}/v1/environments").json()["environments"]}


def test_windows_arrive_with_exact_counts(duck_collector, tmp_path):
    agent = Agent(settings(duck_collector.url, tmp_path / "spool"), window_s=0.3, sample_size=50)
    for i in range(1500):
        agent.record(
            request_id=f"r{i}",
            features={"amount": i % 97, "merchant": f"m{i % 5}"},
            prediction=0.5,
            latency_s=0.001 * (i % 20),
            error="ValueError" if i % 50 == 0 else None,
        )
        if i % 100 == 0:
            time.sleep(0.05)
    assert agent.close()
    env = environments(duck_collector.url)["staging"]
    assert env["requests"] == 1500
    assert env["errors"] == 30
    assert env["snapshots"] >= 3  # several windows were sealed
    assert 50 <= env["samples"] <= 50 * env["snapshots"]
    rows = httpx.get(f"{duck_collector.url}/v1/store").json()["rows"]
    assert rows["fingerprints"] == 1  # sent in full once, by hash afterwards


def test_settings_as_keywords_or_as_an_object(duck_collector, tmp_path):
    by_keywords = Agent(
        service="fraud",
        environment="keywords",
        collector=duck_collector.url,
        spool_dir=tmp_path / "kw",
        sources=SOURCES,
        window_s=60,
        gpu_interval_s=None,
    )
    by_object = Agent(settings(duck_collector.url, tmp_path / "obj", "object"), window_s=60, gpu_interval_s=None)
    assert by_keywords.settings == settings(duck_collector.url, tmp_path / "kw", "keywords")
    for agent in (by_keywords, by_object):
        agent.record(request_id="a", features={"amount": 1}, prediction=0.5)
        assert agent.close()
    envs = environments(duck_collector.url)
    assert envs["keywords"]["requests"] == envs["object"]["requests"] == 1
    with pytest.raises(TypeError, match="not both"):
        Agent(settings(duck_collector.url, tmp_path / "x"), environment="other", start=False)
    with pytest.raises(TypeError, match="colector"):
        Agent(service="fraud", environment="x", colector=duck_collector.url, start=False)  # type: ignore[call-arg]
    assert set(SettingsFields.__annotations__) == {f.name for f in dataclasses.fields(AgentSettings)}


def test_record_takes_only_the_fields_it_knows(tmp_path):
    agent = Agent(settings("http://127.0.0.1:9", tmp_path / "spool"), gpu_interval_s=None, start=False)
    with pytest.raises(TypeError, match="latency"):
        agent.record(request_id="r-1", latency=0.01)  # the field is latency_s
    with pytest.raises(TypeError):
        agent.record("r-1")  # keywords only
    with pytest.raises(TypeError, match="label"):
        agent.record_outcome("r-1", label=1)
    agent.record(
        request_id="r-1",
        features={"amount": 3},
        prediction="fraud",
        confidence=0.9,
        latency_s=0.01,
        model_version="v7",
        error=None,
        ts=time.time() - 60,
    )
    agent.record_outcome(request_id="r-1", outcome=True)
    window = agent.recorder.seal()
    assert window.requests.requests == 1  # the refused calls recorded nothing
    assert window.samples[0].model_version == "v7" and window.samples[0].ts.timestamp() < time.time() - 59
    assert window.outcomes[0].outcome is True
    agent.close(timeout=0)


def test_dead_letter_on_422(duck_collector, tmp_path):
    spool = tmp_path / "spool"
    agent = Agent(settings(duck_collector.url, spool), window_s=60, start=False)
    bad = {
        "header": {
            "wire_version": "1.0",
            "agent_id": agent.agent_id,
            "sequence": 0,
            "service": "fraud",
            "environment": "staging",
            "window_start": "2026-01-01T00:00:00Z",
            "window_end": "2025-01-01T00:00:00Z",
            "agent_version": "old",
        }
    }
    (spool / "pending" / "000000000000.json.gz").write_bytes(gzip.compress(json.dumps(bad).encode()))
    agent.spool.state.next_sequence = 1
    assert agent.close()  # the refused snapshot left the spool for dead/, the last window was stored
    error = (spool / "dead" / "000000000000.error.txt").read_text()
    assert "HTTP 422" in error and "window_end is before window_start" in error
    assert environments(duck_collector.url)["staging"]["snapshots"] == 1


FORK_SCRIPT = textwrap.dedent("""
    import os, sys
    from envparity.agent import Agent, AgentSettings
    from envparity.agent.fingerprint import FingerprintSources
    s = AgentSettings(service="fraud", environment="staging", collector=sys.argv[1],
                      spool_dir=sys.argv[2], sources=FingerprintSources(env_prefixes=("NONE_",)))
    agent = Agent(s, window_s=60)
    for i in range(10):
        agent.record(request_id=f"p{i}")
    pid = os.fork()
    if pid == 0:
        for i in range(7):
            agent.record(request_id=f"c{i}")
        os._exit(0 if agent.close() else 1)
    for i in range(5):
        agent.record(request_id=f"q{i}")
    _, status = os.waitpid(pid, 0)
    delivered = agent.close()
    print(agent.agent_id)
    sys.exit(os.waitstatus_to_exitcode(status) or (0 if delivered else 1))
""")


def test_forked_workers_are_agents_of_their_own(duck_collector, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, duck_collector.url, str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    env = environments(duck_collector.url)["staging"]
    agent_ids = sorted(a["agent_id"] for a in env["agents"])
    parent = result.stdout.strip()
    assert len(agent_ids) == 2 and parent in agent_ids
    assert any(a.startswith(f"{parent}-w") for a in agent_ids)
    assert env["requests"] == 10 + 7 + 5  # the parent's pre-fork records are counted once


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from envparity.agent import Agent, AgentSettings
    from envparity.agent.fingerprint import FingerprintSources
    url, spool, run = sys.argv[1], sys.argv[2], sys.argv[3]
    s = AgentSettings(service="fraud", environment="staging", collector=url, spool_dir=spool,
                      agent_id="killme", sources=FingerprintSources(env_prefixes=("NONE_",)))
    agent = Agent(s, window_s=0.05, sample_size=100000)
    print("ready", flush=True)
    i = 0
    while True:
        agent.record(request_id=f"{run}-{i}", features={"i": i})
        i += 1
        time.sleep(0.0005)
""")


def test_spool_survives_kill_9_at_random_points(duck_collector, tmp_path):
    rng = random.Random(20261122)
    spool = tmp_path / "spool"
    for run in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, duck_collector.url, str(spool), str(run)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    final = Agent(settings(duck_collector.url, spool, agent_id="killme"), window_s=60, start=False)
    assert list(spool.rglob(".*.tmp")) == []  # torn writes of killed runs are cleaned on open
    assert final.close()
    assert list(spool.glob("pending/*")) == []
    stored = environments(duck_collector.url)["staging"]
    duck_collector.kill(signal.SIGTERM)
    con = duckdb.connect(duck_collector.store_url.removeprefix("duckdb:///"), read_only=True)
    ids = [r[0] for r in con.execute("SELECT request_id FROM samples").fetchall()]
    requests = con.execute("SELECT sum(requests) FROM request_windows").fetchone()[0]
    con.close()
    assert len(ids) == len(set(ids)), "a record arrived twice"
    assert len(ids) == requests == stored["requests"]  # every spooled record, each once
    runs = {i.split("-")[0] for i in ids}
    assert len(runs) >= 10  # records of nearly every killed run were spooled and delivered
    for run in runs:  # within a run, what arrived is a gap-free prefix up to the last sealed window
        numbers = sorted(int(i.split("-")[1]) for i in ids if i.startswith(f"{run}-"))
        assert numbers == list(range(len(numbers)))


def test_agent_metrics_endpoint(duck_collector, tmp_path):
    port = free_port()
    agent = Agent(settings(duck_collector.url, tmp_path / "spool"), window_s=60, metrics_port=port)
    agent.record(request_id="a")
    agent.seal_window()
    agent.deliver()
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    agent.close()
    assert "envparity_agent_windows_sealed_total 1.0" in text
    assert "envparity_agent_snapshots_sent_total 1.0" in text
    assert 'envparity_agent_push_duration_seconds_count{result="acked"} 1.0' in text
    assert "envparity_agent_spool_bytes 0.0" in text


class _OtlpReceiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type", ""), len(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_push_spans_reach_an_otlp_endpoint(duck_collector, tmp_path):
    with loopback_server(_OtlpReceiver) as otlp:
        agent = Agent(settings(duck_collector.url, tmp_path / "spool"), window_s=60, otlp_endpoint=otlp)
        agent.record(request_id="a")
        agent.close()
    assert ("/v1/traces", "application/x-protobuf") in [(p, c) for p, c, _ in _OtlpReceiver.received]


def test_no_otlp_endpoint_means_no_tracer(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    agent = Agent(settings("http://127.0.0.1:9", tmp_path / "spool", push_attempts=1), start=False)
    assert not agent.tracing_enabled
    assert agent.close() is False  # nothing listens on port 9: the window stays spooled
    assert len(list(agent.spool.pending())) == 1


def test_from_env_reads_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVPARITY_SERVICE", "fraud")
    monkeypatch.setenv("ENVPARITY_ENVIRONMENT", "canary")
    monkeypatch.setenv("ENVPARITY_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("ENVPARITY_WINDOW_S", "12.5")
    monkeypatch.setenv("ENVPARITY_COLLECTOR", "http://127.0.0.1:9")
    agent = Agent.from_env(start=False, push_attempts=1)
    assert (agent.settings.environment, agent.window_s) == ("canary", 12.5)
    agent.close()
    monkeypatch.delenv("ENVPARITY_SERVICE")
    with pytest.raises(ValueError, match="service is required"):
        Agent.from_env(start=False)
    assert os.environ["ENVPARITY_ENVIRONMENT"] == "canary"
