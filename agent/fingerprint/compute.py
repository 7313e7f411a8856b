"""Compute fingerprint: CPU, memory and the cgroup limits the container runs under."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from envparity.agent.wire import ComputeFingerprint, GpuIdentity

_CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str | None:
    text = _read(Path("/proc/cpuinfo")) or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cgroup_cpu_limit(root: Path = _CGROUP) -> float | None:
    """CPUs allowed by cgroup v2 ``cpu.max`` (or v1 quota/period); None when unlimited."""
    v2 = _read(root / "cpu.max")
    if v2:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    v1_quota = _read(root / "cpu" / "cpu.cfs_quota_us")
    v1_period = _read(root / "cpu" / "cpu.cfs_period_us")
    if v1_quota and v1_period and int(v1_quota) > 0:
        return int(v1_quota) / int(v1_period)
    return None


def cgroup_memory_limit(root: Path = _CGROUP) -> int | None:
    """Bytes allowed by cgroup v2 ``memory.max`` (or v1 limit); None when unlimited."""
    value = _read(root / "memory.max") or _read(root / "memory" / "memory.limit_in_bytes")
    if not value or value == "max" or int(value) >= 1 << 60:
        return None
    return int(value)


def compute_fingerprint(gpus: list[GpuIdentity] | None = None) -> ComputeFingerprint:
    """Fingerprint the machine this process runs on."""
    return ComputeFingerprint(
        platform=platform.system(),
        machine=platform.machine(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        memory_bytes=_memory_bytes(),
        cgroup_cpu_limit=cgroup_cpu_limit(),
        cgroup_memory_limit_bytes=cgroup_memory_limit(),
        gpus=gpus or [],
    )
