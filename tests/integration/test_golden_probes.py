"""Golden probes end to end: real endpoints on 127.0.0.1, real agents, a real collector on a DuckDB file.

Two model servers whose scores differ by 1e-6 pass and by 1e-3 fail; a feature
server whose cache holds a stale value fails on that feature, naming the entity;
probes that fail (the endpoint down, a timeout, an answer that is not JSON, an
error status) are counted and reported, and never stop the agent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from golden_servers import FeatureServer, faulty, model, serve
from helpers import REPO, counts_by_reason, make_agent, run_cli

from envparity.agent.agent import Agent
from envparity.agent.probes.inputs import load_inputs
from envparity.agent.probes.prober import ProbeConfig
from envparity.agent.runner import run_probes_once
from envparity.agent.settings import AgentSettings
from envparity.localservers import free_port

EXAMPLES = REPO / "docs" / "examples"
SERVICE = "fraud"


def _probe(collector: str, environment: str, endpoint: str, inputs: Path, tmp_path: Path, **options: Any) -> None:
    """One ``agent probe --once`` run, in-process, delivered."""
    settings = AgentSettings(
        service=SERVICE, environment=environment, collector=collector, spool_dir=tmp_path / f"spool-{environment}"
    )
    report = run_probes_once(settings, ProbeConfig(endpoint, load_inputs(inputs), **options))
    assert report.delivered_all and not report.dead


def _golden(collector: str, baseline: str, target: str) -> dict[str, dict[str, Any]]:
    """The golden checks of a fresh evaluation of the pair, by output."""
    params = {"service": SERVICE, "baseline": baseline, "target": target, "fresh": "true"}
    answer = httpx.get(f"{collector}/v1/parity", params=params, timeout=30)
    answer.raise_for_status()
    return {c["subject"]: c for c in answer.json()["checks"] if c["check"] == "golden"}


def test_model_outputs_pass_within_the_tolerance_and_fail_beyond_it(duck_collector, tmp_path):
    collector = duck_collector.url
    inputs = EXAMPLES / "golden-inputs.jsonl"
    for environment, offset in (("production", 0.0), ("t4", 1e-6), ("old-driver", 1e-3)):
        with serve(model(offset)) as endpoint:
            _probe(collector, environment, f"{endpoint}/predict", inputs, tmp_path)

    close = _golden(collector, "production", "t4")
    assert set(close) == {"/model", "/predictions/0/label", "/predictions/0/score"}
    assert all(c["status"] == "ok" for c in close.values()), close
    assert close["/predictions/0/score"]["value"] < 1e-5 and close["/predictions/0/score"]["threshold"] == 1e-4

    far = _golden(collector, "production", "old-driver")
    score = far["/predictions/0/score"]
    assert score["status"] == "fail" and abs(score["value"] - 1e-3) < 1e-9 and score["threshold"] == 1e-4
    assert "3 beyond the tolerance" in score["detail"]
    assert all(i in score["detail"] for i in ("small-grocery", "large-electronics", "travel-abroad"))
    assert far["/predictions/0/label"]["status"] == "ok"  # the same labels: equal strings


def test_a_stale_feature_cache_fails_naming_the_feature_and_the_entity(duck_collector, tmp_path):
    collector = duck_collector.url
    inputs = EXAMPLES / "golden-features.jsonl"
    users = (1001, 1002, 1003, 5001, 5002)
    source = {("user_stats:txn_count_7d", u): float(u % 17) for u in users}
    source |= {("user_stats:avg_amount_30d", u): u / 10 for u in users}
    fresh, cached = FeatureServer(source, ttl_s=0), FeatureServer(source, ttl_s=3600)
    with serve(fresh) as production, serve(cached) as staging:
        for later in (False, True):
            if later:
                source[("user_stats:txn_count_7d", 1002)] += 1  # a new transaction: staging's cache keeps the old count
            _probe(collector, "production", f"{production}/get-online-features", inputs, tmp_path)
            _probe(collector, "staging", f"{staging}/get-online-features", inputs, tmp_path)

    golden = _golden(collector, "production", "staging")
    count = golden["user_stats:txn_count_7d"]
    assert count["status"] == "fail" and count["value"] == 1.0
    assert "active-users[user_id=1002] (17 vs 16)" in count["detail"], count["detail"]
    assert "1 beyond the tolerance" in count["detail"]
    assert golden["user_stats:avg_amount_30d"]["status"] == "ok"


def _failures(agent: Agent) -> dict[str, float]:
    return counts_by_reason(agent, "envparity_agent_probe_failures")


def _probing_agent(collector: str, environment: str, endpoint: str, inputs: Path, tmp_path: Path) -> Agent:
    """A running agent that probes once at its start (and then hourly), with a short timeout."""
    config = ProbeConfig(endpoint, load_inputs(inputs), every_s=3600, timeout_s=0.3)
    spool = tmp_path / f"spool-{environment}"
    return make_agent(collector, spool, environment=environment, window_s=3600, probes=config, start=True)


def test_failed_probes_are_counted_and_reported_and_never_stop_the_agent(duck_collector, tmp_path):
    collector = duck_collector.url
    inputs = tmp_path / "inputs.jsonl"
    modes = ("ok", "slow", "text", "error")
    inputs.write_text("".join(json.dumps({"id": m, "body": {"mode": m}}) + "\n" for m in modes))
    with serve(faulty(delay_s=1.0)) as endpoint:
        _probe(collector, "healthy", endpoint, inputs, tmp_path, timeout_s=5.0)
        flaky = _probing_agent(collector, "flaky", endpoint, inputs, tmp_path)
        down = _probing_agent(collector, "down", f"http://127.0.0.1:{free_port()}/predict", inputs, tmp_path)
        deadline = time.monotonic() + 20
        while (len(_failures(flaky)) < 3 or not _failures(down)) and time.monotonic() < deadline:
            time.sleep(0.1)
        flaky.record(request_id="r-1", features={"amount": 1.0}, prediction=0.5)  # it still records
        assert _failures(flaky) == {"timeout": 1, "not_json": 1, "http_5xx": 1}
        assert _failures(down) == {"connect": 4}
        assert flaky.close(timeout=20) and down.close(timeout=20)  # the answers and failures delivered

    score = _golden(collector, "healthy", "flaky")["/predictions/0/score"]
    assert score["status"] == "ok", score  # the one input answered on both sides agrees
    assert "answered on one side only: 1 baseline, 0 target" in score["detail"]  # the slow one, in time there
    failed = "probe failures: baseline http_5xx 1, not_json 1; target http_5xx 1, not_json 1, timeout 1"
    assert failed in score["detail"], score["detail"]
    unanswered = _golden(collector, "healthy", "down")["/predictions/0/score"]
    assert unanswered["status"] == "insufficient_data"
    assert unanswered["detail"].endswith("; target connect 4"), unanswered["detail"]


def test_probes_once_on_the_command_line_alone_and_beside_the_agent(duck_collector, tmp_path):
    collector = duck_collector.url
    common = ["--once", "--collector", collector, "--service", SERVICE]
    inputs = str(EXAMPLES / "golden-inputs.jsonl")
    with serve(model(0.0)) as endpoint:
        alone = ["--endpoint", f"{endpoint}/predict", "--inputs", inputs, "--output", "/predictions/0/score"]
        beside = ["--probe-endpoint", f"{endpoint}/predict", "--probe-inputs", inputs]
        for command, environment, options in (("probe", "production", alone), ("run", "staging", beside)):
            spool = ["--spool", str(tmp_path / environment), "--environment", environment]
            done = run_cli("agent", command, *common, *spool, *options)
            assert done.returncode == 0, done.stderr
    golden = _golden(collector, "production", "staging")  # the agent's snapshot carries its fingerprint too
    assert set(golden) == {"/model", "/predictions/0/label", "/predictions/0/score"}
    assert golden["/predictions/0/score"]["status"] == "ok" and golden["/model"]["status"] == "insufficient_data"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "body": {}}\n{"id": "a", "body": {}}\n')
    refused = run_cli(
        "agent", "probe", *common, "--environment", "x", "--inputs", str(bad), "--endpoint", "http://127.0.0.1:1/"
    )
    assert refused.returncode == 2 and "line 2: id 'a' appears twice" in refused.stderr
    half = run_cli("agent", "run", *common, "--environment", "x", "--probe-inputs", inputs)
    assert half.returncode == 2 and "need both an endpoint and an inputs file" in half.stderr
