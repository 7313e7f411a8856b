"""DuckDB's memory limit and threads, as the store's engine reports them (DuckDB's own default is 80 % of RAM)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import run_cli

from envparity.collector.store import Store
from envparity.collector.store.resources import default_memory_limit, duckdb_config, parse_size


def settings(store: Store) -> tuple[str, int]:
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT current_setting('memory_limit'), current_setting('threads')")).one()
    return row[0], int(row[1])


def test_the_default_limit_is_applied(tmp_path: Path):
    store = Store(f"duckdb:///{tmp_path / 's.duckdb'}")
    try:
        limit, threads = settings(store)
    finally:
        store.close()
    expected = default_memory_limit()
    assert expected <= 1 << 30
    assert limit == ("1.0 GiB" if expected == 1 << 30 else f"{expected / (1 << 20):.1f} MiB")
    assert 1 <= threads <= min(os.cpu_count() or 1, 4)


def test_a_given_limit_is_applied_and_sets_the_threads(tmp_path: Path):
    store = Store(f"duckdb:///{tmp_path / 's.duckdb'}", duckdb_memory_limit="256MiB")
    try:
        assert settings(store) == ("256.0 MiB", 1)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "size"), [("512MiB", 512 << 20), ("1GB", 10**9), ("2 gib", 2 << 30), ("67108864", 1 << 26)]
)
def test_sizes(text: str, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "1 PB", "-1GB", "1MB"])
def test_bad_sizes(text: str):
    with pytest.raises(ValueError, match="memory size"):
        duckdb_config(text)


def test_the_collector_refuses_a_bad_limit_in_one_line(tmp_path: Path):
    result = run_cli("collector", "serve", "--db", str(tmp_path / "s.duckdb"), "--duckdb-memory-limit", "lots")
    assert result.returncode != 0
    assert (
        result.stderr.strip().splitlines()[-1] == "envparity: error: memory size 'lots' is not like 512MiB, 1GB or 2GiB"
    )
