"""The collector's resource bounds: DuckDB's memory limit (else DuckDB takes 80 % of the machine) and threads to
match it, and how many samples of an environment an evaluation reads (cheap to import: the command line reads
its defaults from here).

The default limit is 1 GiB or a quarter of the memory this process may use (its
cgroup's limit in a container, else the machine's), whichever is smaller; past it
DuckDB spills to a temporary folder beside the database file. Threads: one per
256 MiB of the limit, at least one and at most one per CPU.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

GIB = 1 << 30
# An environment with more samples in the window is thinned to about this many (one snapshot in N), so that an
# evaluation's memory is bounded whatever the traffic; the statistics need far fewer to detect any practical drift.
DEFAULT_MAX_SAMPLES = 500_000
MIN_MAX_SAMPLES = 1_000  # fewer would starve the checks of samples
BYTES_PER_THREAD = 256 << 20
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def parse_size(text: str) -> int:
    """``512MiB``, ``1GB``, ``2 GiB`` or a number of bytes, as bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"memory size {text!r} is not like 512MiB, 1GB or 2GiB")
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])
    if size < 16 << 20:
        raise ValueError(f"memory size {text!r} is below 16 MiB, too little for DuckDB")
    return size


def _available_memory() -> int:
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def default_memory_limit() -> int:
    return min(GIB, _available_memory() // 4)


def memory_limit_bytes(memory_limit: str | None = None) -> int:
    """A limit like ``1GiB`` in bytes (None: the default)."""
    return parse_size(memory_limit) if memory_limit else default_memory_limit()


def duckdb_config(memory_limit: str | None = None) -> dict[str, str | int]:
    """DuckDB's ``config`` connection argument for a limit like ``1GiB`` (None: the default)."""
    limit = memory_limit_bytes(memory_limit)
    threads = max(1, min(os.cpu_count() or 1, limit // BYTES_PER_THREAD))
    return {"memory_limit": f"{limit}B", "threads": threads}
