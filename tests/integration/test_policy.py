"""One policy everywhere: expected differences in the thresholds file, strict rules, default pairs and paging.

Each test reproduces a defect of issue 15: the collector's thresholds file
rejected ``rules:``, a misspelt rule was accepted silently, ``check --db`` and
``compare`` ignored the thresholds file, and the default pairs never made a
production environment (by any of its usual names) the target.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import base_fingerprint, make_snapshot, run_check, run_cli

from envparity.agent.wire import ConfigValue, FingerprintBody, Sample, seal_fingerprint
from envparity.collector.parity.diff_rules import RulesError, load_rules
from envparity.collector.parity.model import ParityConfig
from envparity.collector.parity.pairs import PAGING_ENVIRONMENTS, Pair
from envparity.collector.store import Store
from envparity.monitoring.rules import RuleSettings

POLICY = """
defaults:
  null_rate_max_increase: 0.3
  rules:
    - {dimension: config, key: "env:ENVPARITY_TEST_ENDPOINT", severity: ignore}
services:
  fraud:
    shadow_agreement_min: 0.9
    feature_mismatch_max: 0.2
"""


def test_a_misspelt_rule_is_an_error_naming_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {dimension: config, key: 'env:A', severity: ignore}\n  - {dimension: cod, severity: warn}\n"
    )
    with pytest.raises(RulesError, match=r"rules\.1\.dimension: Input should be .*'code'.* \(got 'cod'\)"):
        load_rules(rules)
    fingerprint = tmp_path / "fp.json"
    fingerprint.write_text(base_fingerprint().model_dump_json())
    result = run_cli("fingerprint", "diff", str(fingerprint), str(fingerprint), "--rules", str(rules))
    assert result.returncode == 2 and "rules.1.dimension" in result.stderr, result.stderr


def test_the_thresholds_file_takes_expected_differences(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(POLICY + "    rules:\n      - {dimension: code, key: 'package:boto*', severity: ignore}\n")
    config = ParityConfig.load(path, environ={})
    fraud, other = config.rules("fraud"), config.rules("search")
    assert [r.key for r in fraud[:2]] == ["package:boto*", "env:ENVPARITY_TEST_ENDPOINT"]  # the service's first
    assert other[0].key == "env:ENVPARITY_TEST_ENDPOINT" and other[1:] == fraud[2:]
    assert config.thresholds("fraud").shadow_agreement_min == 0.9
    assert config.thresholds("fraud").null_rate_max_increase == 0.3  # the defaults under the service
    path.write_text(POLICY + "    rules:\n      - {dimension: code, severity: ignroe}\n")
    with pytest.raises(ValueError, match=r"services\.fraud\.rules\.0\.severity: .* \(got 'ignroe'\)"):
        ParityConfig.load(path, environ={})


def _pairs(config: ParityConfig, *environments: str) -> list[tuple[str, str]]:
    return [(p.baseline, p.target) for p in config.pairs("svc", list(environments))]


def test_default_pairs_make_each_paging_environment_a_target(tmp_path: Path) -> None:
    """With dev/prod/staging the collector evaluated dev -> prod and dev -> staging: nothing could ever page."""
    config = ParityConfig.load(None, environ={})
    assert _pairs(config, "dev", "prod", "staging") == [("staging", "prod"), ("prod@24h", "prod"), ("dev", "staging")]
    assert _pairs(config, "production", "staging") == [("staging", "production"), ("production@24h", "production")]
    assert _pairs(config, "live") == [("live@24h", "live")]
    assert _pairs(config, "qa", "dev", "uat") == [("dev", "qa"), ("qa", "uat")]
    only_live = ParityConfig.load(None, environ={"ENVPARITY_PAGING_ENVIRONMENTS": "live"})
    assert _pairs(only_live, "prod", "staging") == [("prod", "staging")]  # prod is not paging here: a stage
    assert _pairs(ParityConfig.load(None, environ={"ENVPARITY_PAGING_ENVIRONMENTS": ""}), "prod") == []
    path = tmp_path / "t.yaml"
    path.write_text("paging_environments: [eu-live]\nservices:\n  svc:\n    pairs: [{baseline: a, target: b}]\n")
    from_file = ParityConfig.load(path, environ={})
    assert from_file.paging_environments == ("eu-live",)
    assert from_file.pairs("svc", ["eu-live", "staging"]) == [Pair(baseline="a", target="b")]  # configured pairs win
    assert [(p.baseline, p.target) for p in from_file.pairs("other", ["eu-live", "staging"])] == [
        ("staging", "eu-live"),
        ("eu-live@24h", "eu-live"),
    ]
    overridden = ParityConfig.load(path, environ={"ENVPARITY_PAGING_ENVIRONMENTS": "staging"})
    assert overridden.paging_environments == ("staging",)


def test_the_alert_rules_page_for_the_collectors_paging_environments() -> None:
    assert RuleSettings().paging_environments is PAGING_ENVIRONMENTS
    assert ParityConfig().paging_environments is PAGING_ENVIRONMENTS


def _fingerprint(endpoint: str):
    body = FingerprintBody.model_validate(base_fingerprint().model_dump(mode="json", exclude={"hash"}))
    body.config.env["ENVPARITY_TEST_ENDPOINT"] = ConfigValue(value=endpoint)
    return seal_fingerprint(body)


def _environment_rows(environment: str, rng: np.random.Generator, n: int) -> list[dict]:
    """Same amounts; production misses 12 % of them and disagrees on 5 % of the shadowed predictions."""
    rows = []
    for i in range(n):
        amount = float(rng.normal(100, 20))
        prediction = 0.9 if i % 2 else 0.1
        if environment == "production":
            amount = None if i % 25 < 3 else amount
            prediction = 1 - prediction if i % 20 == 0 else prediction
        rows.append(
            {"request_id": f"r{i}", "amount": amount, "hour": int(rng.integers(0, 24)), "prediction": prediction}
        )
    return rows


def _store(path: Path, now: datetime) -> dict[str, list[dict]]:
    """staging and production with the same requests (shadow traffic) five minutes ago, in a DuckDB file."""
    store, data = Store(f"duckdb:///{path}"), {}
    for environment in ("staging", "production"):
        rows = data[environment] = _environment_rows(environment, np.random.default_rng(7), 1_000)
        samples = [
            Sample(
                ts=now - timedelta(minutes=5) + timedelta(milliseconds=i),
                request_id=row["request_id"],
                features={"amount": row["amount"], "hour": row["hour"]},
                prediction=row["prediction"],
            )
            for i, row in enumerate(rows)
        ]
        endpoint = _fingerprint(f"https://{environment}.example")
        snap = make_snapshot(f"agent-{environment}", environment=environment, fingerprint=endpoint, samples=samples)
        snap.header.window_start, snap.header.window_end = now - timedelta(minutes=6), now - timedelta(minutes=1)
        store.ingest(snap, environment.ljust(64, "0"), now)
    store.close()
    return data


def _verdict(result) -> tuple[str, set[tuple[str, str]]]:
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return report["status"], {(c["check"], c["subject"]) for c in report["checks"] if c["status"] == "fail"}


def test_one_verdict_from_the_collector_check_and_compare(start_collector, tmp_path: Path) -> None:
    """A collector with shadow_agreement_min 0.9 said ok while check --db on its store failed at 0.98."""
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(POLICY)
    db = tmp_path / "store.duckdb"
    data = _store(db, datetime.now(UTC))
    for environment, rows in data.items():
        lines = ["amount,hour,prediction"] + [
            f"{'' if r['amount'] is None else r['amount']},{r['hour']},{r['prediction']}" for r in rows
        ]
        (tmp_path / f"{environment}.csv").write_text("\n".join(lines) + "\n")
    files = [str(tmp_path / "staging.csv"), str(tmp_path / "production.csv"), "--prediction", "prediction"]
    pair = ("staging", "production")  # the default pair of a paging environment

    # without the file: the built-in thresholds fail the missing amounts, the agreement and the endpoint
    # (and feature equality: an amount missing on one side of a shadowed request differs)
    default_db = _verdict(run_check(["--db", str(db)], *pair, "--format", "json"))
    assert default_db[0] == "fail"
    assert {
        ("null_rate", "amount"),
        ("shadow_agreement", "prediction"),
        ("env_var", "env:ENVPARITY_TEST_ENDPOINT"),
    } <= (default_db[1])
    assert _verdict(run_cli("compare", *files, "--format", "json")) == ("fail", {("null_rate", "amount")})

    # with it, on every path: ok
    verdicts = {
        "check --db": _verdict(
            run_check(["--db", str(db)], *pair, "--format", "json", "--thresholds", str(thresholds))
        ),
        "compare": _verdict(
            run_cli("compare", *files, "--format", "json", env={"ENVPARITY_THRESHOLDS": str(thresholds)})
        ),
        "compare --service": _verdict(
            run_cli("compare", *files, "--format", "json", "--thresholds", str(thresholds), "--service", "fraud")
        ),
    }
    collector = start_collector(f"duckdb:///{db}", "--thresholds", str(thresholds), "--evaluate-every", "1")
    verdicts["check --collector"] = _verdict(run_check(["--collector", collector.url], *pair, "--format", "json"))
    params = {"service": "fraud", "baseline": pair[0], "target": pair[1]}
    deadline = time.monotonic() + 60
    while not (history := httpx.get(f"{collector.url}/v1/parity/history", params=params).json()["evaluations"]):
        assert time.monotonic() < deadline, "no scheduled evaluation:\n" + collector.log()
        time.sleep(0.5)
    verdicts["collector serve (scheduled)"] = (history[0]["status"], set())
    assert verdicts == dict.fromkeys(verdicts, ("ok", set())), verdicts
    refused = run_check(["--collector", collector.url], *pair, "--thresholds", str(thresholds))
    assert refused.returncode == 2 and "--thresholds goes with --db" in refused.stderr
