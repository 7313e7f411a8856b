"""Parity through the collector: the CI gate, stored evaluations, metrics, outcomes, files and references."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta

import duckdb
import httpx
import numpy as np
import pytest
from helpers import free_port, push_environment, run_check, run_cli


@pytest.fixture
def drifted(start_collector, store_url):
    collector = start_collector(store_url, "--evaluate-every", "1")
    push_environment(collector.url, "production", 0.0, 1, "agent-prod")
    push_environment(collector.url, "staging", 0.5, 1, "agent-stage")  # same requests, amounts shifted
    return collector


def test_check_gate_names_the_drift(drifted):
    result = run_check(["--collector", drifted.url], "production", "staging", "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "fail" and 0 <= report["score"] < 100
    failing = {(c["layer"], c["check"], c["subject"]) for c in report["checks"] if c["status"] == "fail"}
    assert ("data", "wasserstein", "amount") in failing
    assert ("prediction", "feature_equality", "amount") in failing  # same request ids, different amounts
    assert not any(subject == "hour" for _, _, subject in failing)
    for field in ("layer", "check", "subject", "value", "threshold", "status", "detail"):
        assert field in report["checks"][0]
    same = run_check(["--collector", drifted.url], "production", "production", "--format", "markdown")
    assert same.returncode == 0, same.stdout
    assert same.stdout.startswith("### parity fraud: production -> production: OK")


def test_stored_history_and_metrics(drifted):
    params = {"service": "fraud", "baseline": "staging", "target": "production"}  # a default pair
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    history: list = []
    while datetime.now(UTC) < deadline and len(history) < 2:  # the scheduler evaluates every second
        history = httpx.get(f"{drifted.url}/v1/parity/history", params=params).json()["evaluations"]
    assert len(history) >= 2 and history[0]["status"] == "fail"
    latest = httpx.get(f"{drifted.url}/v1/parity", params=params).json()
    assert latest["status"] == "fail"
    metrics = httpx.get(f"{drifted.url}/metrics").text
    assert 'envparity_parity_score{baseline="staging",service="fraud",target="production"}' in metrics
    assert (
        'envparity_check_status{baseline="staging",check="wasserstein",layer="data",service="fraud",'
        'subject="amount",target="production"} 2.0'
    ) in metrics
    assert "envparity_evaluation_last_success_timestamp_seconds" in metrics
    bad_window = httpx.get(f"{drifted.url}/v1/parity", params={**params, "window": "soon"})
    assert bad_window.status_code == 400
    unknown = httpx.get(f"{drifted.url}/v1/parity", params={**params, "target": "qa", "fresh": "true"})
    assert unknown.status_code == 404


def test_outcomes_endpoint(drifted):
    url = f"{drifted.url}/v1/outcomes"
    ok = httpx.post(
        url, json={"service": "fraud", "environment": "staging", "outcomes": [{"request_id": "r1", "outcome": 1}]}
    )
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    bad = httpx.post(url, json={"service": "fraud", "environment": "staging", "outcomes": [{"outcome": 1}]})
    assert bad.status_code == 422 and "outcomes.0.request_id" in bad.json()["error"]
    assert httpx.post(url, content=b"{nope").status_code == 400


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_check_from_a_duckdb_file(drifted, store_url):
    where = ["--db", store_url.removeprefix("duckdb:///")]
    locked = run_check(where)
    assert locked.returncode == 2 and "is a collector using it" in locked.stderr
    drifted.kill(signal.SIGTERM)
    result = run_check(where)
    assert result.returncode == 1, result.stderr
    assert "amount" in result.stdout and "FAIL" in result.stdout


def test_check_exit_2_when_the_collector_is_away():
    result = run_check(["--collector", f"http://127.0.0.1:{free_port()}"], "a", "b")
    assert result.returncode == 2 and "cannot be reached" in result.stderr


def _write_files(tmp_path, shift: float):
    rng = np.random.default_rng(3)
    paths = []
    for name, delta in (("baseline", 0.0), ("target", shift)):
        con = duckdb.connect()
        x = rng.normal(delta, 1, 4000)
        y = rng.normal(0, 1, 4000)
        cat = rng.choice(["a", "b", "c"], 4000)
        pred = rng.random(4000)
        label = (rng.random(4000) < pred).astype(int)
        con.execute(
            "CREATE TABLE t AS SELECT unnest($1) AS x, unnest($2) AS y, unnest($3) AS cat, "
            "unnest($4) AS pred, unnest($5) AS label",
            [x.tolist(), y.tolist(), cat.tolist(), pred.tolist(), label.tolist()],
        )
        csv_path = tmp_path / f"{name}.csv"
        con.execute(f"COPY t TO '{csv_path}' (HEADER)")
        con.execute(f"COPY t TO '{tmp_path / name}.parquet' (FORMAT parquet)")
        con.execute(f"COPY t TO '{tmp_path / name}.jsonl' (FORMAT json)")
        paths.append(name)
        con.close()
    return tmp_path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_compare_files(tmp_path, suffix):
    _write_files(tmp_path, shift=0.3)
    args = [
        str(tmp_path / f"baseline{suffix}"),
        str(tmp_path / f"target{suffix}"),
        "--prediction",
        "pred",
        "--label",
        "label",
        "--format",
        "json",
    ]
    result = run_cli("compare", *args)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    failing = {c["subject"] for c in report["checks"] if c["status"] == "fail"}
    assert failing == {"x"}
    assert {c["layer"] for c in report["checks"]} >= {"data", "prediction", "outcome"}
    evidently = run_cli("compare", *args[:2], "--features", "y,cat", "--psi-binning", "evidently")
    assert evidently.returncode == 0, evidently.stdout


def test_compare_bad_input(tmp_path):
    _write_files(tmp_path, shift=0.0)
    missing = run_cli("compare", str(tmp_path / "nope.csv"), str(tmp_path / "target.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    column = run_cli("compare", str(tmp_path / "baseline.csv"), str(tmp_path / "target.csv"), "--features", "zz")
    assert column.returncode == 2 and "no column 'zz'" in column.stderr
    kind = run_cli("compare", str(tmp_path / "baseline.csv"), str(tmp_path / "baseline.xlsx"))
    assert kind.returncode == 2 and "unknown file type" in kind.stderr


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_reference_upload_is_a_baseline(drifted, tmp_path):
    _write_files(tmp_path, shift=0.0)
    up = run_cli(
        "reference",
        "upload",
        str(tmp_path / "baseline.parquet"),
        "--collector",
        drifted.url,
        "--service",
        "fraud",
        "--name",
        "training",
        "--prediction",
        "pred",
    )
    assert up.returncode == 0, up.stderr
    assert "uploaded 4000 rows" in up.stdout
    result = run_check(["--collector", drifted.url], "ref.training", "staging", "--format", "json")
    report = json.loads(result.stdout)
    assert report["baseline"] == "ref.training"
    schema = {c["subject"]: c["value"] for c in report["checks"] if c["check"] == "schema"}
    assert schema.get("x") == "missing" and schema.get("amount") == "new"
