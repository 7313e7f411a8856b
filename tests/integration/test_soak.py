"""Memory soak in small: 10 agents for about a minute against a DuckDB collector evaluating every 2 s.

The collector's peak RSS must stay under its ceiling (DuckDB's limit, 256 MiB here,
plus the process's own budget), and every snapshot must be acknowledged (no 5xx; a
429 or a dropped connection is retried as an agent does). The driver is
``tests/soak_driver.py``, the one ``benchmarks/soak.py`` runs for longer.
"""

from __future__ import annotations

from pathlib import Path

from soak_driver import ceiling_mib, collector, soak

LIMIT = "256MiB"


def test_collector_rss_stays_under_ceiling_with_evaluation_on(tmp_path: Path) -> None:
    with collector(tmp_path, 2.0, "--duckdb-memory-limit", LIMIT) as (url, pid):
        result = soak(url, pid, agents=10, seconds=60, period_s=3.0)
    print(result.summary())
    assert not result.failures, result.failures[:5]
    assert result.sent > 0 and result.acked == result.sent, result.summary()
    assert result.peak_mib < ceiling_mib(LIMIT), result.summary()
    assert 0 < max(result.store_mib) <= 256, result.summary()  # 0: the metric was not read
