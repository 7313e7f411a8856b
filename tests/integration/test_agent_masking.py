"""Personal data stays home: masked at seal time by default, so it is in neither the spool nor the store.

A real agent records an ``email``, a ``card_number`` and an ``api_token`` feature; neither
its spool nor the collector's DuckDB file holds them, while drift statistics still
work on the masked values (keyed hashes under the deployment's salt, equal wherever
the salt is): the same email distribution compares equal, a different one fails.
"""

from __future__ import annotations

import gzip
import json
import random
import signal
from pathlib import Path

import duckdb
import httpx
import pytest
from helpers import SOURCES, make_agent

from envparity.agent import Agent
from envparity.agent.settings import AgentSettings

EMAILS = [f"user{i}@example.com" for i in range(8)]
CARD = "4111 1111 1111 1111"  # a Luhn-valid test card number
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
SECRETS = (*EMAILS, CARD, TOKEN, "4111111111111111")


def record_environment(url: str, spool: Path, environment: str, emails: list[str], seed: int) -> Agent:
    """An agent of ``environment`` that recorded 400 requests with personal features, its window sealed."""
    agent = make_agent(url, spool, environment=environment, sample_size=400)
    rng = random.Random(seed)
    for i in range(400):
        agent.record(
            request_id=f"{environment}-{i}",
            features={"email": rng.choice(emails), "card_number": CARD, "api_token": TOKEN, "amount": i % 40},
            prediction=0.5,
        )
    agent.seal_window()
    return agent


def spool_text(spool: Path) -> str:
    return "".join(gzip.decompress(p.read_bytes()).decode() for p in sorted(spool.glob("pending/*.json.gz")))


def test_personal_features_never_leave_the_agent(start_collector, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENVPARITY_HASH_SALT", "a-salt-of-this-deployment-only-0123")
    db = tmp_path / "store.duckdb"
    collector = start_collector(f"duckdb:///{db}")
    environments = {"production": (EMAILS, 1), "staging": (EMAILS, 2), "qa": (EMAILS[:2], 3)}
    for environment, (emails, seed) in environments.items():
        spool = tmp_path / environment
        agent = record_environment(collector.url, spool, environment, emails, seed)
        text = spool_text(spool)
        assert "masked:" in text and not [s for s in SECRETS if s in text]
        masked = agent.metrics.registry.get_sample_value("envparity_agent_values_masked_total")
        assert masked == 400 * 3  # email, card number and token of every sample
        assert agent.close()

    def drift(target: str) -> dict[str, str]:
        params = {"service": "fraud", "baseline": "production", "target": target, "fresh": "true"}
        checks = httpx.get(f"{collector.url}/v1/parity", params=params, timeout=60).json()["checks"]
        return {c["check"]: c["status"] for c in checks if c["layer"] == "data" and c["subject"] == "email"}

    assert drift("staging") == {"psi": "ok", "chi2": "ok", "null_rate": "ok"}
    assert drift("qa")["chi2"] == "fail"  # two of the eight addresses: the masked values still drift
    collector.kill(signal.SIGTERM)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.duckdb*"))
    assert not [s for s in SECRETS if s.encode() in raw]
    with duckdb.connect(str(db), read_only=True) as conn:
        stored = conn.execute("SELECT DISTINCT unnest(str) FROM feature_columns WHERE str IS NOT NULL").fetchall()
    values = {v for (v,) in stored}
    assert values and all(v.startswith("masked:") for v in values)
    assert not values & set(SECRETS)


@pytest.mark.parametrize(
    ("variables", "masked"),
    [
        ({}, {"email", "api_token"}),
        ({"ENVPARITY_MASK_FEATURES": "off"}, set()),
        ({"ENVPARITY_MASK_NAMES": "merchant", "ENVPARITY_KEEP_NAMES": "email"}, {"merchant", "api_token"}),
    ],
)
def test_masking_is_configured_from_the_environment(tmp_path: Path, monkeypatch, variables, masked) -> None:
    for name, value in {"ENVPARITY_SERVICE": "fraud", "ENVPARITY_ENVIRONMENT": "staging", **variables}.items():
        monkeypatch.setenv(name, value)
    agent = Agent.from_env(spool_dir=tmp_path / "spool", sources=SOURCES, gpu_interval_s=None, start=False)
    agent.record(features={"email": "a@example.com", "api_token": TOKEN, "merchant": "grocery", "amount": 3})
    agent.seal_window()
    sample = json.loads(spool_text(tmp_path / "spool"))["samples"][0]["features"]
    assert {name for name, value in sample.items() if str(value).startswith("masked")} == masked
    agent.close(timeout=0)


def test_a_mask_mode_other_than_auto_or_off_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("ENVPARITY_MASK_FEATURES", "yes")
    with pytest.raises(ValueError, match="ENVPARITY_MASK_FEATURES='yes': expected one of auto, off"):
        AgentSettings.from_env(service="fraud", environment="staging")


def test_command_line_options_win_over_the_environment(monkeypatch) -> None:
    from envparity.cli import build_parser
    from envparity.cli.agent import settings_from_args

    monkeypatch.setenv("ENVPARITY_MASK_NAMES", "merchant")
    common = ["agent", "run", "--service", "fraud", "--environment", "staging"]
    args = build_parser().parse_args([*common, "--mask-features", "off", "--keep-names", "email, phone"])
    settings = settings_from_args(args)
    assert not settings.mask_features
    assert settings.keep_names == {"email", "phone"} and settings.mask_names == {"merchant"}
    assert settings_from_args(build_parser().parse_args(common)).mask_features  # on by default
