"""The collector over TLS (``--tls-cert``, ``--tls-key``) and its tokens from a Secret-like mount.

A real collector serves HTTPS with a certificate for 127.0.0.1 signed by a test CA
(tests/certificates.py); a real agent, ``check`` and ``reference upload`` reach it
with ``--ca-file``; plain HTTP to its port fails. The tokens file is laid out as
the kubelet mounts a Secret (``tokens.yaml`` -> ``..data/tokens.yaml``, ``..data``
-> a versioned folder swapped on an update) and is re-read when it changes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from certificates import HttpsCollector, https_collector, make_certificates, tls_options
from helpers import free_port, run_check, run_cli

from envparity.agent import Agent
from envparity.agent.fingerprint import FingerprintSources
from envparity.collector.serve import CollectorSettings, check_binding

TOKENS = """
tokens:
  - {name: fraud-agents, token: agent-token, write: ["fraud/*"]}
  - {name: fraud-team, token: reader-token, read: ["fraud"]}
"""
READER = {"Authorization": "Bearer reader-token"}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def collector(certificates: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsCollector]:
    with https_collector(tmp_path_factory.mktemp("collector"), certificates, TOKENS, *tls_options(certificates)) as c:
        yield c


def test_an_agent_with_the_ca_file_delivers_to_the_tls_collector(collector, certificates, tmp_path) -> None:
    agent = Agent(
        service="fraud",
        environment="staging",
        collector=collector.url,
        token="agent-token",
        spool_dir=tmp_path / "spool",
        ca_file=certificates / "ca.pem",
        push_attempts=1,
        sources=FingerprintSources(env_prefixes=("NONE_",)),
        gpu_interval_s=None,
        start=False,
    )
    agent.record(request_id="r-1", features={"amount": 3.0}, prediction=0.5)
    assert agent.close()
    environments = httpx.get(f"{collector.url}/v1/environments", headers=READER, verify=collector.ca).json()
    assert [(e["service"], e["environment"]) for e in environments["environments"]] == [("fraud", "staging")]


def test_check_and_reference_upload_verify_the_collector_with_the_ca_file(collector, certificates, tmp_path) -> None:
    ca = str(certificates / "ca.pem")
    data = tmp_path / "train.csv"
    data.write_text("amount,score\n" + "".join(f"{i},{i / 100}\n" for i in range(100)))
    upload = ["reference", "upload", str(data), "--service", "fraud", "--name", "train", "--prediction", "score"]
    upload += ["--collector", collector.url, "--token", "agent-token"]
    refused = run_cli(*upload)
    assert refused.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    uploaded = run_cli(*upload, "--ca-file", ca)
    assert uploaded.returncode == 0 and "uploaded 100 rows" in uploaded.stdout, uploaded.stderr

    where = ["--collector", collector.url, "--token", "reader-token"]
    unverified = run_check(where, "ref.train", "ref.train")
    assert unverified.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
    assert unverified.stderr.count("\n") == 1
    by_option = run_check(where, "ref.train", "ref.train", "--ca-file", ca, "--format", "json")
    assert by_option.returncode == 0 and '"status": "ok"' in by_option.stdout, by_option.stderr
    by_variable = run_cli(
        "check", *where, "--service", "fraud", "--baseline", "ref.train", "--target", "ref.train",
        env={"ENVPARITY_CA_FILE": ca},
    )  # fmt: skip
    assert by_variable.returncode == 0, by_variable.stderr


def test_plain_http_to_the_tls_port_fails(collector) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{collector.port}/health", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{collector.url}/health", timeout=5)  # the system's CAs do not know the test CA
    assert httpx.get(f"{collector.url}/health", verify=collector.ca).json() == {"status": "ok"}


def test_the_certificate_and_key_come_from_the_environment(certificates, tmp_path) -> None:
    cert, key = tls_options(certificates)[1::2]
    env = {"ENVPARITY_TLS_CERT": cert, "ENVPARITY_TLS_KEY": key}
    with https_collector(tmp_path, certificates, TOKENS, env=env) as served:
        assert httpx.get(f"{served.url}/health", verify=served.ca).status_code == 200
    assert "collector on https://127.0.0.1" in served.log.read_text()


@pytest.mark.parametrize(
    ("tls", "said"),
    [
        (["--tls-cert", "server.pem"], "give --tls-cert and --tls-key together"),
        (["--tls-key", "server.key"], "give --tls-cert and --tls-key together"),
        (["--tls-cert", "server.pem", "--tls-key", "ca.key"], "--tls-cert"),  # a key of another certificate
        (["--tls-cert", "missing.pem", "--tls-key", "server.key"], "missing.pem"),
    ],
)
def test_a_bad_certificate_or_key_is_one_line_of_bad_input(tls, said, certificates, tmp_path) -> None:
    paths = [str(certificates / a) if not a.startswith("--") else a for a in tls]
    out = run_cli("collector", "serve", "--db", str(tmp_path / "s.duckdb"), "--port", str(free_port()), *paths)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and said in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("host", "tls_cert", "warned"),
    [("0.0.0.0", None, True), ("0.0.0.0", Path("server.pem"), False), ("127.0.0.1", None, False)],
)
def test_listening_beyond_loopback_without_tls_is_a_warning(host, tls_cert, warned, caplog) -> None:
    settings = CollectorSettings(host=host, tokens_file=Path("tokens.yaml"), tls_cert=tls_cert)
    with caplog.at_level(logging.WARNING, logger="envparity.collector"):
        check_binding(settings)
    assert ("without TLS" in caplog.text) is warned


# --- tokens from a Secret volume --------------------------------------------------


def update_secret(mount: Path, version: str, tokens: str) -> None:
    """Write ``tokens`` as the kubelet updates a Secret volume: a new folder, then ``..data`` swapped to it."""
    (mount / version).mkdir()
    (mount / version / "tokens.yaml").write_text(tokens)
    (mount / "..data_tmp").symlink_to(version)
    os.replace(mount / "..data_tmp", mount / "..data")
    if not (mount / "tokens.yaml").is_symlink():
        (mount / "tokens.yaml").symlink_to("..data/tokens.yaml")


def answers(url: str, token: str) -> int:
    return httpx.get(f"{url}/v1/environments", headers={"Authorization": f"Bearer {token}"}).status_code


def wait_for_answer(url: str, token: str, status: int) -> None:
    deadline = time.monotonic() + 10
    while answers(url, token) != status:
        assert time.monotonic() < deadline, f"token {token} was not answered {status}"
        time.sleep(0.2)


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_tokens_from_a_secret_volume_are_reread_when_the_secret_changes(start_collector, store_url, tmp_path) -> None:
    mount = tmp_path / "tokens"
    mount.mkdir()
    update_secret(mount, "..v1", "tokens:\n  - {name: old, token: old-token, read: ['*']}\n")
    collector = start_collector(store_url, "--tokens-file", str(mount / "tokens.yaml"))
    assert answers(collector.url, "old-token") == 200
    assert answers(collector.url, "new-token") == 401

    update_secret(mount, "..v2", "tokens:\n  - {name: new, token: new-token, read: ['*']}\n")
    wait_for_answer(collector.url, "new-token", 200)
    assert answers(collector.url, "old-token") == 401  # revoked without a restart

    update_secret(mount, "..v3", "tokens: [oops")  # a broken update keeps the tokens in force
    time.sleep(2.5)
    assert answers(collector.url, "new-token") == 200
    assert collector.log().count("the tokens read before stay in force") == 1
