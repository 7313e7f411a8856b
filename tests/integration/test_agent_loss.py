"""Nothing blocks, nothing is miscounted: poison pills dead-lettered, no drop of a snapshot in flight, losses central.

A small HTTP server on loopback stands in front of a real collector (or for it): it
answers 500 for chosen sequences, fails on everything, or holds a push until the
test releases it, so that each case runs the same way every time.
"""

from __future__ import annotations

import re
import threading

import httpx
from helpers import counts_by_reason, make_agent
from stand_in_servers import Answer, snapshot_server

from envparity.agent import Agent
from envparity.agent.push import DeliveryReport

OK = (200, b'{"status": "ok", "duplicate": false}')


def poisoning(collector_url: str, poison: set[int]) -> Answer:
    """Forward to the collector, except a 500 for the sequences in ``poison``."""

    def answer(sequence: int, body: bytes) -> tuple[int, bytes]:
        if sequence in poison:
            return 500, b'{"error": "internal server error"}'
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        forwarded = httpx.post(f"{collector_url}/v1/snapshots", content=body, headers=headers, timeout=30)
        return forwarded.status_code, forwarded.content

    return answer


def seal(agent: Agent, windows: int) -> list[int]:
    sequences = []
    for _ in range(windows):
        agent.record(request_id="r", features={"amount": 1.0}, latency_s=0.01)
        sequences.append(agent.seal_window())
    return sequences


def dropped(agent: Agent) -> dict[str, float]:
    """envparity_agent_snapshots_dropped_total by reason."""
    return counts_by_reason(agent, "envparity_agent_snapshots_dropped")


def test_a_poison_pill_is_dead_lettered_and_the_windows_behind_it_delivered(duck_collector, tmp_path) -> None:
    collector, spool = duck_collector, tmp_path / "spool"
    with snapshot_server(poisoning(collector.url, poison={1})) as url:
        agent = make_agent(url, spool, push_attempts=2, max_attempts=3)
        seal(agent, 5)
        first = agent.deliver()
        assert (first.sent, first.dead, first.remaining) == (1, 0, 4)  # two 500s: retried later, not yet dropped
        second = agent.deliver()
        assert (second.sent, second.dead, second.remaining) == (3, 1, 0)  # a third: the ones behind it go
        assert agent.close()  # seals one more window: it carries the loss to the collector
    error = (spool / "dead" / "000000000001.error.txt").read_text()
    assert "HTTP 500" in error and "3 times" in error
    assert agent.spool.losses() == {"server_error": 1} and dropped(agent) == {"server_error": 1.0}
    [env] = httpx.get(f"{collector.url}/v1/environments").json()["environments"]
    assert env["snapshots"] == 5 and env["snapshots_lost"] == {"server_error": 1} and env["snapshots_missing"] == 1
    metrics = httpx.get(f"{collector.url}/metrics").text
    lost = 'envparity_environment_snapshots_lost_total{environment="staging",reason="server_error",service="fraud"}'
    assert f"{lost} 1.0" in metrics
    assert 'envparity_environment_snapshots_missing{environment="staging",service="fraud"} 1.0' in metrics


def test_a_restarted_agent_does_not_retry_a_poison_pill_forever(duck_collector, tmp_path) -> None:
    spool = tmp_path / "spool"
    with snapshot_server(poisoning(duck_collector.url, poison={0})) as url:
        before = make_agent(url, spool, push_attempts=1, max_attempts=3)
        seal(before, 1)
        before.deliver()
        before.deliver()
        before.close(timeout=0)  # two failures on sequence 0 so far
        after = make_agent(url, spool, push_attempts=1, max_attempts=3)
        report = after.deliver()  # the third failure makes it a suspect; the window behind it is taken
        assert (report.sent, report.dead, report.remaining) == (1, 1, 0)
        after.close(timeout=0)
    assert (spool / "dead" / "000000000000.json.gz").exists()


def test_a_collector_failing_on_everything_dead_letters_nothing(tmp_path) -> None:
    status = {"code": 500}
    sends: list[int] = []

    def answer(sequence: int, _: bytes) -> tuple[int, bytes]:
        sends.append(sequence)
        return (status["code"], b'{"error": "database unreachable"}') if status["code"] != 200 else OK

    with snapshot_server(answer) as url:
        agent = make_agent(url, tmp_path / "spool", push_attempts=1, max_attempts=2)
        seal(agent, 3)
        rounds: list[DeliveryReport] = []
        for _ in range(8):
            sends.clear()
            rounds.append(agent.deliver())
            assert len(sends) <= 2  # a suspect and the next snapshot at most: no storm of retries
        assert all(r.dead == 0 and r.remaining == 3 for r in rounds)
        status["code"] = 200  # the database is back: every snapshot goes, none was lost
        assert agent.deliver().sent == 3
        agent.close(timeout=0)
    assert agent.spool.losses() == {}


def test_a_snapshot_in_flight_is_never_dropped_and_drops_are_counted_once(tmp_path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def answer(sequence: int, _: bytes) -> tuple[int, bytes]:
        arrived.set()
        assert release.wait(30)
        return OK

    with snapshot_server(answer) as url:
        agent = make_agent(url, tmp_path / "spool", spool_max_bytes=1)  # every snapshot but the newest is over
        seal(agent, 1)
        reports: list[DeliveryReport] = []
        delivery = threading.Thread(target=lambda: reports.append(agent.deliver()))
        delivery.start()
        assert arrived.wait(30)  # sequence 0 is in flight, its push held by the server
        seal(agent, 3)  # the bound drops 1 and 2, never 0
        release.set()
        delivery.join(30)
        assert [r.sent for r in reports] == [1]  # 0, delivered while 1 and 2 were dropped
        assert agent.deliver().sent == 1  # 3
        assert agent.spool.pending_count() == 0
        agent.close(timeout=0)
    assert agent.spool.losses() == {"spool_bound": 2} and dropped(agent) == {"spool_bound": 2.0}
    sealed = agent.metrics.registry.get_sample_value("envparity_agent_windows_sealed_total") or 0
    sent = agent.metrics.registry.get_sample_value("envparity_agent_snapshots_sent_total") or 0
    assert sealed == sent + 2 + 1  # sent, dropped, and the last window close() sealed into the spool
    assert re.fullmatch(r"0*4\.json\.gz", next((tmp_path / "spool" / "pending").iterdir()).name)
