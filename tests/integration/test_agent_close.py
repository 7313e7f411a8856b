"""Agent.close(timeout): bounded by its deadline whatever the collector does, never raising into the application."""

from __future__ import annotations

import http.server
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from helpers import make_agent
from stand_in_servers import loopback_server

from envparity.agent import Agent

SLACK_S = 1.0  # a shared CI machine: thread wake-ups and the seal itself


def patient_agent(url: str, spool: Path, start: bool = True) -> Agent:
    """A pushing agent whose own HTTP timeout (60 s) never ends a push first: only close()'s deadline does."""
    return make_agent(url, spool, push_timeout_s=60.0, window_s=60, start=start)


class _Hanging(http.server.BaseHTTPRequestHandler):
    """Takes the request and never answers (until the test lets it go)."""

    arrived: ClassVar[threading.Event]
    release: ClassVar[threading.Event]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.arrived.set()
        self.release.wait(60)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Busy(http.server.BaseHTTPRequestHandler):
    """Answers every push with 503 and a Retry-After of five minutes."""

    posts: ClassVar[int] = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        self.send_response(503)
        self.send_header("Retry-After", "300")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "busy"}')

    def log_message(self, *args: object) -> None:
        pass


def wait_until(condition: threading.Event) -> None:
    assert condition.wait(30), "the agent never pushed"


def timed_close(agent: Agent, timeout: float) -> tuple[bool, float]:
    started = time.monotonic()
    delivered = agent.close(timeout=timeout)
    return delivered, time.monotonic() - started


def test_close_meets_its_deadline_when_the_collector_never_answers(duck_collector, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    _Hanging.arrived, _Hanging.release = threading.Event(), threading.Event()
    with loopback_server(_Hanging) as hanging:
        agent = patient_agent(hanging, spool)
        agent.record(request_id="r-1", latency_s=0.01)
        delivered, took = timed_close(agent, timeout=1.0)
        assert delivered is False and took < 1.0 + SLACK_S
        assert _Hanging.arrived.is_set()  # it did try, with a request cut to the deadline
        _Hanging.release.set()
    assert patient_agent(duck_collector.url, spool, start=False).close()  # the last window waited in the spool
    staging = httpx.get(f"{duck_collector.url}/v1/environments").json()["environments"][0]
    assert staging["requests"] == 1


def test_close_meets_its_deadline_with_a_push_in_flight(tmp_path: Path) -> None:
    _Hanging.arrived, _Hanging.release = threading.Event(), threading.Event()
    with loopback_server(_Hanging) as hanging:
        agent = patient_agent(hanging, tmp_path / "spool", start=False)
        agent.seal_window()
        agent.start()  # the first delivery takes the spooled window to a collector that never answers
        wait_until(_Hanging.arrived)
        delivered, took = timed_close(agent, timeout=1.0)
        _Hanging.release.set()
    assert delivered is False and took < 1.0 + SLACK_S
    assert len(list((tmp_path / "spool" / "pending").glob("*.json.gz"))) == 2  # both windows kept


def test_close_cuts_a_long_backoff_short(tmp_path: Path) -> None:
    _Busy.posts = 0
    with loopback_server(_Busy) as busy:
        agent = patient_agent(busy, tmp_path / "spool", start=False)
        agent.seal_window()
        agent.start()  # the first delivery is told to come back in five minutes
        deadline = time.monotonic() + 30
        while _Busy.posts == 0:
            assert time.monotonic() < deadline, "the agent never pushed"
            time.sleep(0.01)
        delivered, took = timed_close(agent, timeout=10.0)
    assert delivered is False
    assert took < SLACK_S  # neither the backoff nor the deadline was waited out


def test_close_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    agent = patient_agent("http://127.0.0.1:9", tmp_path / "spool", start=False)
    shutil.rmtree(tmp_path / "spool")  # the last window cannot be spooled
    with caplog.at_level(logging.ERROR, logger="envparity.agent"):
        assert agent.close(timeout=1.0) is False
    assert "closing the agent failed" in caplog.text


def test_a_zero_timeout_spools_the_last_window_and_sends_nothing(tmp_path: Path) -> None:
    _Busy.posts = 0
    with loopback_server(_Busy) as busy:
        agent = patient_agent(busy, tmp_path / "spool", start=False)
        agent.record(request_id="r-1")
        assert agent.close(timeout=0) is False
    assert _Busy.posts == 0
    assert len(list((tmp_path / "spool" / "pending").glob("*.json.gz"))) == 1
    assert agent.close() is False  # closing again only reports
