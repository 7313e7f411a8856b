"""The collector's C heap tuning, measured with glibc's own counters (``mallinfo2``) in a fresh process each.

Without ``heap.tune``, once a large block has been freed the next one of its size comes
from the arena (glibc raises its mapping threshold) and stays resident when freed; with it,
the block is a mapping of its own. ``heap.trim`` hands the free pages of the arenas back.
"""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = """
import ctypes, sys
from envparity.collector import heap
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tuned":
    assert heap.tune()
libc.free(libc.malloc(4 << 20))  # glibc's first large free raises its threshold when untuned
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblkhd >> 20)
"""

_TRIM = """
import ctypes
from envparity.collector import heap
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) >> 10
blocks, kept = [], []
for _ in range(3_000):  # 190 MiB of 64 KiB blocks, touched, each followed by a small one that stays in use:
    blocks.append(libc.malloc(64 << 10))  # the free space is between used blocks, not at the top of the heap
    ctypes.memset(blocks[-1], 1, 64 << 10)
    kept.append(libc.malloc(64))
before = rss()
for b in blocks:
    libc.free(b)
freed = rss()
trimmed = heap.trim()
print(before, freed, rss(), trimmed)
"""


def _run(code: str, *args: str) -> str:
    """``code`` in a fresh process with glibc's defaults (no ``MALLOC_*`` tunables from this environment)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def test_tuned_heap_maps_large_blocks_of_their_own_after_a_free() -> None:
    assert int(_run(_PROBE, "untuned")) == 0  # glibc's default: the second block came from the arena
    assert int(_run(_PROBE, "tuned")) >= 4


def test_trim_returns_freed_pages_to_the_system() -> None:
    before, freed, after, trimmed = _run(_TRIM).split()
    assert trimmed == "True"
    assert int(freed) > int(before) - 50, "free alone keeps the pages resident"
    assert int(after) < int(freed) - 150
