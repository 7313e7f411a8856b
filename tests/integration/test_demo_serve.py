"""`envparity demo --serve` prints where the report is, and SIGTERM stops it together with its collector."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from helpers import REPO, envparity_cmd


def _lines(proc: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The lines the process prints, read on a thread until it exits, so that a test can wait for one."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_serve_prints_the_report_url_and_stops_its_collector_on_sigterm(tmp_path: Path) -> None:
    command = envparity_cmd("demo", "--serve", "--workdir", str(tmp_path / "demo"), "--seconds", "4")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    (lines, reader), seen = _lines(proc), []
    children: list[int] = []
    try:
        while not seen or not seen[-1].startswith("Serving until"):
            seen.append(lines.get(timeout=240))
        report = lines.get(timeout=10)
        assert report.startswith("report: http://127.0.0.1:"), "\n".join([*seen, report])
        url = report.removeprefix("report: ")
        page = httpx.get(url, timeout=60)
        assert page.status_code == 200 and 'id="features"' in page.text, page.text[:300]
        port = urlsplit(url).port
        assert port is not None and _listening(port)
        children = _children(proc.pid)
        assert any(b"collector" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children), children

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert [c for c in children if _alive(c)] == [], "the collector outlived the demo"
        assert not _listening(port)
    finally:
        if _alive(proc.pid):
            children = children or _children(proc.pid)
        for pid in [proc.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        reader.join(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
