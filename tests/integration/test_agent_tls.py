"""The agent verifies the collector's TLS certificate against a CA file (``--ca-file``, ``ENVPARITY_CA_FILE``).

A certificate authority and a server certificate for 127.0.0.1 are made with
``openssl`` (tests/certificates.py); a small HTTPS server stands in for the collector's snapshot endpoint.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from certificates import make_certificates
from helpers import make_agent, run_cli
from stand_in_servers import snapshot_server

from envparity.agent import Agent


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@dataclass
class SnapshotSink:
    """What the stand-in collector received."""

    url: str
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
def https_collector(certificates: Path) -> Iterator[SnapshotSink]:
    """An HTTPS server on 127.0.0.1 that acknowledges every snapshot POSTed to it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    bodies: list[bytes] = []

    def acknowledge(_: int, body: bytes) -> tuple[int, bytes]:
        bodies.append(body)
        return 200, b'{"stored": true}'

    with snapshot_server(acknowledge, context) as url:
        yield SnapshotSink(url, bodies)


def agent(url: str, spool: Path, ca_file: Path | None) -> Agent:
    return make_agent(url, spool, ca_file=ca_file, push_attempts=1)


def test_delivers_to_a_collector_signed_by_the_ca_file(https_collector, certificates, tmp_path) -> None:
    trusting = agent(https_collector.url, tmp_path / "spool", certificates / "ca.pem")
    trusting.record(request_id="r-1", features={"amount": 3}, prediction=0.5)
    assert trusting.close()
    assert len(https_collector.bodies) == 1


def test_refuses_the_certificate_without_the_ca_file(https_collector, tmp_path, caplog) -> None:
    doubting = agent(https_collector.url, tmp_path / "spool", None)  # the system's CAs do not know the test CA
    doubting.record(request_id="r-1")
    with caplog.at_level(logging.WARNING, logger="envparity.agent"):
        assert doubting.close() is False
    assert https_collector.bodies == []
    assert len(list(doubting.spool.pending())) == 1  # kept for later, not lost
    refused = [r.getMessage() for r in caplog.records if "CERTIFICATE_VERIFY_FAILED" in r.getMessage()]
    assert len(refused) == 1 and "\n" not in refused[0], caplog.text


def test_command_line_takes_the_ca_file_from_an_option_or_the_environment(
    https_collector, certificates, tmp_path
) -> None:
    once = ["agent", "run", "--once", "--collector", https_collector.url, "--service", "fraud"]
    once += ["--environment", "staging", "--env-prefix", "NONE_"]
    refused = run_cli(*once, "--spool", str(tmp_path / "a"))
    assert refused.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr  # spooled
    by_option = run_cli(*once, "--spool", str(tmp_path / "b"), "--ca-file", str(certificates / "ca.pem"))
    assert by_option.returncode == 0, by_option.stderr
    by_variable = run_cli(
        *once, "--spool", str(tmp_path / "c"), env={"ENVPARITY_CA_FILE": str(certificates / "ca.pem")}
    )
    assert by_variable.returncode == 0, by_variable.stderr
    assert len(https_collector.bodies) == 2
    missing = run_cli(*once, "--spool", str(tmp_path / "d"), "--ca-file", str(tmp_path / "no-such.pem"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no-such.pem" in missing.stderr
