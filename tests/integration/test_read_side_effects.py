"""Reading never changes state: a one-off check, an earlier window or a report view leaves /metrics and the history as
they were; only the scheduled cycle changes what the parity gauges export and what the history holds."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import push_environment, run_check

from envparity.collector.exporter.parity import PARITY_GAUGES

PAIR = {"service": "fraud", "baseline": "staging", "target": "production"}  # a default pair: production the target
REVERSED = {"service": "fraud", "baseline": "production", "target": "staging"}  # a pair the cycle does not evaluate


def _metric_lines(url: str) -> list[str]:
    return httpx.get(f"{url}/metrics", timeout=30).text.splitlines()


def _parity_series(url: str) -> list[str]:
    """The samples of the parity gauges on /metrics, sorted."""
    return sorted(line for line in _metric_lines(url) if line.partition("{")[0] in PARITY_GAUGES)


def _cycle_done(url: str) -> bool:
    return any(line.startswith("envparity_evaluation_last_success_timestamp_seconds ") for line in _metric_lines(url))


def _history(url: str, pair: dict[str, str] = PAIR) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/v1/parity/history", params=pair, timeout=30).json()["evaluations"]


@pytest.fixture
def evaluated_once(start_collector, tmp_path: Path):
    """A collector whose scheduled cycle has evaluated staging -> production once, and waits an hour for the next."""
    store_url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    ingest = start_collector(store_url, "--evaluate-every", "0")
    push_environment(ingest.url, "production", 0.0, 1, "agent-prod")
    push_environment(ingest.url, "staging", 0.5, 1, "agent-stage")  # same requests, amounts shifted
    ingest.kill(signal.SIGTERM)
    collector = start_collector(store_url, "--evaluate-every", "3600")  # first cycle within 5 s of the start
    deadline = time.monotonic() + 60
    while not _cycle_done(collector.url):
        assert time.monotonic() < deadline, "the scheduled cycle did not run:\n" + collector.log()
        time.sleep(0.5)
    return collector


def test_one_off_reads_change_neither_gauges_nor_history(evaluated_once) -> None:
    url = evaluated_once.url
    series, history = _parity_series(url), _history(url)
    assert len(history) == 1 and history[0]["status"] == "fail"
    assert (
        'envparity_check_status{baseline="staging",check="wasserstein",layer="data",service="fraud",'
        'subject="amount",target="production"} 2.0'
    ) in series

    check = run_check(["--collector", url], "staging", "production", "--window", "5m", "--format", "json")
    assert check.returncode in (0, 1), check.stderr
    assert json.loads(check.stdout)["window_start"] != history[0]["window_start"]  # a window of its own

    cycle_end = datetime.fromisoformat(history[0]["window_end"])
    before_data = httpx.get(
        f"{url}/v1/parity", params={**PAIR, "at": (cycle_end - timedelta(minutes=30)).isoformat(), "fresh": "true"}
    )
    assert before_data.status_code == 200, before_data.text
    # a window of its own, before any data: it fails on having nothing to compare, not on the stored drift
    failing = [c for c in before_data.json()["checks"] if c["status"] == "fail"]
    assert [c["check"] for c in failing] == ["samples"] and "no data" in failing[0]["detail"]
    stored = httpx.get(f"{url}/v1/parity", params={**PAIR, "at": datetime.now(UTC).isoformat()})
    assert stored.status_code == 200 and stored.json()["evaluated_at"] == history[0]["evaluated_at"]

    page = httpx.get(f"{url}/report", params={**REVERSED, "fresh": "true"}, timeout=120)
    assert page.status_code == 200 and "production &rarr; staging" in page.text

    assert _parity_series(url) == series
    assert _history(url) == history
    assert _history(url, REVERSED) == []
    latest = httpx.get(f"{url}/v1/parity", params=PAIR, timeout=120).json()
    assert latest["evaluated_at"] == history[0]["evaluated_at"]
