"""Staleness on /metrics: a GPU, or an environment's traffic, that has not reported for longer than --stale-after
leaves /metrics (Prometheus then marks its series stale) while a fresh one stays; ECC error totals are counters under
dcgm-exporter's names."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from helpers import make_snapshot, post_snapshot

from envparity.agent.wire import GpuMetrics, GpuSection, RequestAggregates

STALE_AFTER_S = 15


def _push_gpu(url: str, agent: str, environment: str, window_end: datetime) -> None:
    snap = make_snapshot(
        agent_id=agent,
        environment=environment,
        requests=RequestAggregates(requests=10),
        gpu=GpuSection(
            devices=[
                GpuMetrics(
                    uuid=f"GPU-{agent}",
                    index=0,
                    name="NVIDIA H100",
                    values={"DCGM_FI_DEV_GPU_UTIL": 55.0, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": 2.0},
                )
            ]
        ),
    )
    snap.header.window_start, snap.header.window_end = window_end - timedelta(minutes=1), window_end
    assert post_snapshot(url, snap).status_code == 200


def _metrics(url: str) -> list[str]:
    return httpx.get(f"{url}/metrics", timeout=30).text.splitlines()


def _series(lines: list[str], name: str, environment: str) -> list[str]:
    return [line for line in lines if line.startswith(name + "{") and f'environment="{environment}"' in line]


def test_a_gpu_that_stops_reporting_leaves_metrics(start_collector, tmp_path):
    collector = start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}", "--stale-after", f"{STALE_AFTER_S}s")
    _push_gpu(collector.url, "stopped", "canary", datetime.now(UTC) - timedelta(minutes=10))
    _push_gpu(collector.url, "running", "staging", datetime.now(UTC))
    lines = _metrics(collector.url)
    assert _series(lines, "DCGM_FI_DEV_GPU_UTIL", "staging") and _series(lines, "envparity_gpu_lost", "staging")
    assert not _series(lines, "DCGM_FI_DEV_GPU_UTIL", "canary")  # its newest window ended 10 minutes ago
    assert "# TYPE DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter" in lines
    assert [s.rsplit(" ", 1)[1] for s in _series(lines, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "staging")] == ["2.0"]
    assert _series(lines, "envparity_requests_total", "staging")
    deadline = time.monotonic() + 120
    while _series(lines, "DCGM_FI_DEV_GPU_UTIL", "staging") or _series(lines, "envparity_requests_total", "staging"):
        assert time.monotonic() < deadline, "the stopped agent's series stayed on /metrics"
        time.sleep(1)
        lines = _metrics(collector.url)
    assert not _series(lines, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "staging")
    # the environment's freshness stays: it is how a silent environment shows
    assert _series(lines, "envparity_environment_last_snapshot_timestamp_seconds", "staging")
    assert [s.rsplit(" ", 1)[1] for s in _series(lines, "envparity_environment_agents", "staging")] == ["0.0"]
