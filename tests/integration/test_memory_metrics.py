"""The collector's memory on /metrics: DuckDB's buffer memory and limit, and the process's resident memory.

A real collector process; its resident memory is read from ``/proc/PID/status`` as
the kernel counts it and compared with what /metrics says.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from helpers import make_snapshot, post_snapshot
from prometheus_client.parser import text_string_to_metric_families

LIMIT = 256 << 20


def _metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def _vm_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) << 10 for line in status if line.startswith("VmRSS:"))


def test_duckdb_memory_and_the_process_resident_memory_are_exported(start_collector, tmp_path):
    collector = start_collector(f"duckdb:///{tmp_path / 's.duckdb'}", "--duckdb-memory-limit", "256MiB")
    for sequence in range(3):
        assert post_snapshot(collector.url, make_snapshot(sequence=sequence)).status_code == 200
    metrics = _metrics(collector.url)
    assert metrics["envparity_store_memory_limit_bytes"] == LIMIT
    assert 0 < metrics["envparity_store_memory_bytes"] <= LIMIT
    assert collector.proc is not None
    rss = _vm_rss(collector.proc.pid)
    assert abs(metrics["process_resident_memory_bytes"] - rss) < 0.2 * rss


def test_no_store_memory_on_postgresql(start_collector, pg_database):
    metrics = _metrics(start_collector(pg_database).url)
    assert "envparity_store_memory_bytes" not in metrics and "envparity_store_memory_limit_bytes" not in metrics
    assert metrics["process_resident_memory_bytes"] > 0
