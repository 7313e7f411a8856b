"""Child processes of the demo: started on loopback, always stopped on the way out.

While a group runs, SIGTERM interrupts the demo as Ctrl-C does (``KeyboardInterrupt``),
so that a service manager or ``kill`` stops the children too instead of orphaning them.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType


def envparity_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "envparity", *args]


class ProcessGroup:
    """Starts processes with their output in log files; stops them all, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.log_dir)
        self.procs.append(proc)
        return proc

    def stop(self, timeout_s: float = 10.0) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def process_group(log_dir: Path) -> Iterator[ProcessGroup]:
    """A group whose processes are stopped however the block ends: normally, by an error, Ctrl-C or SIGTERM."""
    group = ProcessGroup(log_dir)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield group
    finally:
        group.stop()
        signal.signal(signal.SIGTERM, previous)
