"""Progress of long commands: a bar on stderr when it is a terminal (tqdm), nothing otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from tqdm import tqdm


def row_chunks(total: int, size: int, desc: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of ``size`` rows out of ``total``; a terminal shows the rows done as a bar.

    The bar is cleared when the work ends or fails (the caller's message is the last
    word); where stderr is not a terminal (CI logs, pipes) tqdm draws nothing.
    """
    with tqdm(total=total, desc=desc, unit="rows", unit_scale=True, leave=False, disable=None, file=sys.stderr) as bar:
        for start in range(0, total, size):
            end = min(start + size, total)
            yield start, end
            bar.update(end - start)
