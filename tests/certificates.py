"""A test certificate authority and a server certificate for 127.0.0.1 signed by it (made with ``openssl``),
and a real collector served over HTTPS with them."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from helpers import envparity_cmd, free_port

SERVER_EXTENSIONS = """\
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> Path:
    """ca.pem (a test CA) and server.pem/server.key (127.0.0.1, signed by it) in ``folder``, which is returned."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=envparity test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text(SERVER_EXTENSIONS)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "server.ext", "-out", "server.pem", cwd=folder)  # fmt: skip
    return folder


@dataclass
class HttpsCollector:
    url: str
    port: int
    ca: ssl.SSLContext  # verifies the collector's certificate
    log: Path


@contextmanager
def https_collector(
    folder: Path, certificates: Path, tokens: str, *tls: str, env: dict[str, str] | None = None
) -> Iterator[HttpsCollector]:
    """``collector serve`` of a store in ``folder`` with ``tokens``, over HTTPS by ``tls`` options (or ``env``)."""
    (folder / "tokens.yaml").write_text(tokens)
    port = free_port()
    args = ["--db", str(folder / "store.duckdb"), "--tokens-file", str(folder / "tokens.yaml")]
    args += ["--port", str(port), "--evaluate-every", "0", *tls]
    served = HttpsCollector(
        f"https://127.0.0.1:{port}",
        port,
        ssl.create_default_context(cafile=certificates / "ca.pem"),
        folder / "collector.log",
    )
    with served.log.open("ab") as log:
        proc = subprocess.Popen(
            envparity_cmd("collector", "serve", *args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        _wait_ready(proc, served)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def tls_options(certificates: Path) -> list[str]:
    return ["--tls-cert", str(certificates / "server.pem"), "--tls-key", str(certificates / "server.key")]


def _wait_ready(proc: subprocess.Popen, served: HttpsCollector) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"collector exited with {proc.returncode}: {served.log.read_text()}"
        try:
            if httpx.get(f"{served.url}/ready", verify=served.ca, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{served.url}/ready did not answer")
