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
def _server(
    name: str, binaries: tuple[str, ...], config: dict[str, Any], workdir: Path, flags: list[str]
) -> Iterator[str]:
    """A Prometheus-family server ``name`` with ``config`` in ``workdir`` on a free port; yields its URL.

    ``flags`` may use ``{dir}`` (the work directory) and ``{address}`` (host:port).
    """
    binary = next((found for b in binaries if (found := shutil.which(b))), None)
    assert binary, f"install the Debian package that provides {binaries[0]}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    args = [binary, f"--config.file={workdir / f'{name}.yml'}"]
    args += [flag.format(dir=workdir, address=address) for flag in flags]
    with _process(args, f"http://{address}/-/ready", workdir / f"{name}.log"):
        yield f"http://{address}"


def alertmanager(config: dict[str, Any], workdir: Path) -> contextlib.AbstractContextManager[str]:
    """An Alertmanager with ``config`` (no clustering); yields its URL."""
    flags = ["--storage.path={dir}/data", "--web.listen-address={address}", "--cluster.listen-address="]
    return _server("alertmanager", ("prometheus-alertmanager", "alertmanager"), config, workdir, flags)


def prometheus(config: dict[str, Any], workdir: Path) -> contextlib.AbstractContextManager[str]:
    """A Prometheus with ``config`` (rule files given as absolute paths); yields its URL."""
    flags = ["--storage.tsdb.path={dir}/data", "--web.listen-address={address}", "--rules.alert.resend-delay=1s"]
    return _server("prometheus", ("prometheus",), config, workdir, flags)
