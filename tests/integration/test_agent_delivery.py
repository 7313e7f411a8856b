"""Agent delivery: spooling while the collector is away, exactly-once across kill -9, dead letters."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from helpers import agent_run_args, free_port, run_cli
from stand_in_servers import loopback_server

from envparity.agent.fingerprint import FingerprintSources
from envparity.agent.push import Pusher, classify
from envparity.agent.runner import spool_fingerprint_snapshot
from envparity.agent.settings import AgentSettings
from envparity.agent.spool import Spool, SpoolLocked


def agent_args(url: str, spool: Path, environment: str = "staging") -> list[str]:
    return agent_run_args(url, spool, "--once", "--env-prefix", "ENVPARITY_TEST_", environment=environment)


def stored_sequences(url: str) -> list[int]:
    envs = httpx.get(f"{url}/v1/environments").json()["environments"]
    return [a["snapshots"] for e in envs for a in e["agents"]]


def test_spools_when_collector_is_away_then_delivers_in_order(tmp_path, start_collector, store_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spool = tmp_path / "spool"
    env = {"ENVPARITY_PUSH_TIMEOUT_S": "5"}  # the same in every run: ENVPARITY_* variables are fingerprinted
    away = run_cli(*agent_args(url, spool), env=env)
    assert away.returncode == 3, away.stderr
    assert len(list((spool / "pending").glob("*.json.gz"))) == 1
    away_again = run_cli(*agent_args(url, spool), env=env)
    assert away_again.returncode == 3
    collector = start_collector(store_url)
    back = run_cli(*agent_args(collector.url, spool), env=env)
    assert back.returncode == 0, back.stderr
    assert list((spool / "pending").glob("*.json.gz")) == []
    envs = httpx.get(f"{collector.url}/v1/environments").json()["environments"]
    assert envs[0]["snapshots"] == 3
    assert httpx.get(f"{collector.url}/v1/store").json()["rows"]["fingerprints"] == 1


def _fill_spool(spool_dir: Path, count: int) -> None:
    settings = AgentSettings(
        service="fraud",
        environment="staging",
        spool_dir=spool_dir,
        sources=FingerprintSources(env_prefixes=("ENVPARITY_TEST_",)),
    )
    spool = Spool(spool_dir)
    try:
        for _ in range(count):
            spool_fingerprint_snapshot(settings, spool)
    finally:
        spool.close()


def test_exactly_once_after_kill_9_of_the_collector(tmp_path, start_collector, store_url):
    spool = tmp_path / "spool"
    _fill_spool(spool, 60)
    collector = start_collector(store_url)
    agent = subprocess.Popen(
        [sys.executable, "-m", "envparity", *agent_args(collector.url, spool)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "ENVPARITY_PUSH_TIMEOUT_S": "2"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = httpx.get(f"{collector.url}/v1/store").json()["rows"]["snapshots"]
        if rows >= 10:
            break
        time.sleep(0.01)
    collector.kill()  # SIGKILL, mid-stream
    output, _ = agent.communicate(timeout=120)
    assert agent.returncode == 3, output
    pending_after_kill = len(list((spool / "pending").glob("*.json.gz")))
    assert 0 < pending_after_kill < 61
    restarted = start_collector(store_url)
    assert run_cli(*agent_args(restarted.url, spool)).returncode == 0
    assert list((spool / "pending").glob("*.json.gz")) == []
    assert stored_sequences(restarted.url) == [62]  # 60 spooled + one per agent run, each once
    assert httpx.get(f"{restarted.url}/v1/store").json()["rows"]["snapshots"] == 62


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_refused_snapshot_goes_to_dead_letter(tmp_path, start_collector, store_url):
    collector = start_collector(store_url, "--max-body-bytes", "1000")
    spool = tmp_path / "spool"
    result = run_cli(*agent_args(collector.url, spool))
    assert result.returncode == 4, result.stderr
    dead = list((spool / "dead").glob("*.json.gz"))
    assert len(dead) == 1
    error = (spool / "dead" / "000000000000.error.txt").read_text()
    assert "413" in error and "exceeds 1000 bytes" in error
    assert result.stderr.count("collector refused") == 1


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_wrong_token_keeps_snapshots_spooled(tmp_path, start_collector, store_url):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n  - {name: staging, token: good-token, write: ['fraud/staging'], read: true}\n")
    collector = start_collector(store_url, "--tokens-file", str(tokens))
    spool = tmp_path / "spool"
    wrong = run_cli(*agent_args(collector.url, spool), "--token", "bad-token")
    assert wrong.returncode == 3
    cross = run_cli(*agent_args(collector.url, tmp_path / "prod-spool", "production"), "--token", "good-token")
    assert cross.returncode == 3 and "may not write fraud/production" in cross.stderr
    right = run_cli(*agent_args(collector.url, spool), "--token", "good-token")
    assert right.returncode == 0
    assert httpx.get(f"{collector.url}/v1/environments").status_code == 401
    envs = httpx.get(f"{collector.url}/v1/environments", headers={"Authorization": "Bearer good-token"}).json()[
        "environments"
    ]
    assert [e["environment"] for e in envs] == ["staging"] and envs[0]["snapshots"] == 2


class _Flaky(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status = self.statuses.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status in (429, 503):
            self.send_header("Retry-After", "7")
        self.end_headers()
        self.wfile.write(b'{"status": "ok", "duplicate": false}' if status == 200 else b'{"error": "busy"}')

    def log_message(self, *args: object) -> None:
        pass


def test_backoff_honours_retry_after(tmp_path):
    _Flaky.statuses = [503, 429, 500, 200]
    slept: list[float] = []
    with loopback_server(_Flaky) as url:
        pusher = Pusher(url, attempts=5, backoff_base_s=0.1, sleep=slept.append)
        try:
            _fill_spool(tmp_path / "spool", 1)
            spool = Spool(tmp_path / "spool")
            report = pusher.deliver(spool)
            spool.close()
        finally:
            pusher.close()
    assert report.sent == 1
    assert slept[:2] == [7.0, 7.0]
    assert 0 <= slept[2] <= 0.4


def test_classify_statuses():
    request = httpx.Request("POST", "http://127.0.0.1/v1/snapshots")

    def verdict(status: int, body: str = '{"error": "x"}') -> str:
        return classify(httpx.Response(status, text=body, request=request)).verdict

    assert verdict(200, '{"duplicate": true}') == "acked"
    assert verdict(409, '{"error": "x", "code": "unknown_fingerprint"}') == "need_fingerprint"
    assert verdict(409, '{"error": "x", "code": "conflict"}') == "dead"
    assert verdict(422) == "dead"
    assert verdict(413) == "dead"
    assert verdict(401) == "unauthorized"
    assert verdict(502) == "retry" and verdict(504) == "retry" and verdict(408) == "retry"  # away or busy
    assert verdict(500) == "failed"  # failed on this snapshot: counted towards a dead letter


def test_one_process_per_spool(tmp_path):
    first = Spool(tmp_path / "spool")
    with pytest.raises(SpoolLocked):
        Spool(tmp_path / "spool")
    first.close()


def test_spool_bound_drops_oldest_and_counts(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=3000)
    for seq in range(10):
        spool.put(spool.next_sequence(), os.urandom(1000) + str(seq).encode())
    kept = [entry.sequence for entry in spool.pending()]
    assert kept == sorted(kept) and kept[-1] == 9 and len(kept) < 10
    assert spool.losses() == {"spool_bound": 10 - len(kept)}
    spool.close()


def test_collector_refuses_open_binding_without_tokens(tmp_path):
    result = run_cli(
        "collector",
        "serve",
        "--db",
        str(tmp_path / "x.duckdb"),
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
    )
    assert result.returncode == 2
    assert "without a tokens file" in result.stderr
