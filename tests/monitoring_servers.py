"""Real Prometheus and Alertmanager (Debian packages) on loopback ports, and a webhook sink, for the tests."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from envparity.localservers import free_port, wait_for_http


class WebhookSink:
    """Collects the JSON bodies POSTed to it, by path."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def alerts(self, path: str) -> list[dict[str, Any]]:
        """Every firing alert delivered to ``path``."""
        return [a for p, body in list(self.received) if p == path for a in body["alerts"] if a["status"] == "firing"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def _process(args: list[str], ready_url: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(ready_url, timeout_s=60, proc=proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def alertmanager(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """An Alertmanager with ``config``; yields its URL."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "install the Debian package prometheus-alertmanager"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",
    ]
    with _process(args, f"{url}/-/ready", workdir / "alertmanager.log"):
        yield url


@contextlib.contextmanager
def prometheus(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """A Prometheus with ``config`` (rule files given as absolute paths); yields its URL."""
    binary = shutil.which("prometheus")
    assert binary, "install the Debian package prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--rules.alert.resend-delay=1s",
    ]
    with _process(args, f"{url}/-/ready", workdir / "prometheus.log"):
        yield url
