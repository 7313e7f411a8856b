"""The collector's C heap (glibc malloc): fewer arenas, large blocks mapped, freed pages handed back after each cycle.

A long-running collector allocates on many threads (the HTTP thread pool, the
engine's workers, the store's readers) and frees large NumPy arrays after every
evaluation. With glibc's defaults each thread may get an arena of its own (up to
eight per CPU) and, once a large block has been freed, blocks of up to 32 MiB
come from those arenas rather than their own mappings, so the freed memory stays
resident as fragments: under a 50-agent soak the arenas held three times what was
in use and the resident size climbed for as long as the data in the window grew.
``tune`` caps the arenas and fixes the mapping threshold (what ``MALLOC_ARENA_MAX``
and ``MALLOC_MMAP_THRESHOLD_`` would do, without relying on the environment the
process was started with); ``trim`` returns the free pages of every arena to the
system (``malloc_trim``). Both do nothing where the C library is not glibc. They
reach what Python and NumPy allocate; DuckDB keeps its own allocator, bounded by
its memory limit.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("envparity.collector")

ARENAS = 2
MMAP_THRESHOLD = 1 << 20  # blocks from this size get mappings of their own, unmapped when freed
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt parameters (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (which names its version), else None."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "malloc_trim"):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


_LIBC = _glibc()


def tune() -> bool:
    """Cap the arenas and fix the mapping threshold for this process; False where that is not glibc's to set."""
    if _LIBC is None:
        return False
    arenas = bool(_LIBC.mallopt(_M_ARENA_MAX, ARENAS) == 1)
    mapped = bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    if not (arenas and mapped):
        log.warning("could not tune the C heap (mallopt refused); memory may fragment under load")
    return arenas and mapped


def trim() -> bool:
    """Return the free pages of the heap to the system; True when some were."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0) == 1)
