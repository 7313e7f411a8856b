"""End to end with the real binaries: collector -> Prometheus (generated rules) -> Alertmanager -> webhooks.

Two environments of one service with a planted feature drift and a package
difference are evaluated both ways (staging -> production and production ->
staging). The alert for the production target is critical and must reach the
pager with its labels; the same drift with the staging target is a warning,
which the example Alertmanager configuration sends to the ticket queue, never
the pager. Every query of every generated dashboard panel must return data from
this Prometheus (with All clusters and namespaces: the collector's series carry
neither label), and a panel showing a date must read milliseconds.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from dashboard_queries import dashboard_files, panel_queries, substitute
from helpers import REPO, base_fingerprint, post_snapshot
from monitoring_servers import WebhookSink, alertmanager, prometheus

from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import (
    LATENCY_BUCKETS_S,
    Fingerprint,
    FingerprintBody,
    GpuMetrics,
    GpuSection,
    RequestAggregates,
    Sample,
    seal_fingerprint,
)
from envparity.monitoring import rules

SAMPLES = 200
ENVIRONMENTS = {"staging": 0.0, "production": 1.0}  # production's "amount" moved by one baseline std


def fingerprint(environment: str) -> Fingerprint:
    data = base_fingerprint().model_dump(mode="json", exclude={"hash"})
    data["artifacts"]["items"]["model.pt"] = {"kind": "file", "sha256": "a" * 64, "size_bytes": 1024}
    if environment == "production":
        data["code"]["packages"]["numpy"] = "0.1.0"
    return seal_fingerprint(FingerprintBody.model_validate(data))


def window(environment: str, sequence: int, fp: Fingerprint) -> Any:
    rng = np.random.default_rng([sequence, len(environment)])
    same = np.random.default_rng(sequence)  # what both environments share: request ids, predictions
    now = datetime.now(UTC)
    latencies = rng.gamma(2.0, 0.02 if environment == "production" else 0.01, SAMPLES)
    counts = np.bincount(np.searchsorted(LATENCY_BUCKETS_S, latencies), minlength=len(LATENCY_BUCKETS_S) + 1)
    predictions = same.random(SAMPLES)
    samples = [
        Sample(
            ts=now,
            request_id=f"r{sequence}-{i}",
            features={"amount": float(rng.normal(100, 20) + 20 * ENVIRONMENTS[environment]), "hour": int(i % 24)},
            prediction=float(predictions[i]),
            confidence=0.9,
            latency_s=float(latencies[i]),
        )
        for i in range(SAMPLES)
    ]
    gpu = GpuMetrics(
        uuid=f"GPU-{environment}",
        index=0,
        name="NVIDIA A100-SXM4-40GB",
        values={
            "DCGM_FI_DEV_GPU_UTIL": 40.0,
            "DCGM_FI_DEV_FB_USED": 1024.0,
            "DCGM_FI_DEV_FB_TOTAL": 40960.0,
            "DCGM_FI_DEV_GPU_TEMP": 51.0,
            "DCGM_FI_DEV_POWER_USAGE": 180.0,
        },
    )
    return build_snapshot(
        agent_id=f"agent-{environment}",
        sequence=sequence,
        service="fraud",
        environment=environment,
        window_start=now - timedelta(seconds=1),
        window_end=now,
        fingerprint=fp,
        acked_fingerprint=fp.hash if sequence else None,
        requests=RequestAggregates(
            requests=SAMPLES,
            errors={"timeout": 2},
            latency_bucket_counts=[int(c) for c in counts],
            latency_sum_s=float(latencies.sum()),
        ),
        samples=samples,
        gpu=GpuSection(devices=[gpu]),
    )


@pytest.fixture
def traffic(start_collector, tmp_path: Path) -> Iterator[Any]:
    thresholds = tmp_path / "thresholds.yml"
    pairs = [{"baseline": "staging", "target": "production"}, {"baseline": "production", "target": "staging"}]
    thresholds.write_text(yaml.safe_dump({"services": {"fraud": {"pairs": pairs}}}))
    collector = start_collector(
        f"duckdb:///{tmp_path / 'store.duckdb'}", "--evaluate-every", "1", "--thresholds", str(thresholds)
    )
    stop = threading.Event()
    fingerprints = {env: fingerprint(env) for env in ENVIRONMENTS}

    def feed() -> None:
        sequence = 0
        while not stop.is_set():
            for env, fp in fingerprints.items():
                response = post_snapshot(collector.url, window(env, sequence, fp))
                assert response.status_code == 200, response.text
            sequence += 1
            stop.wait(1.0)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    yield collector
    stop.set()
    feeder.join(timeout=30)


def alertmanager_config(sink: WebhookSink) -> dict[str, Any]:
    """The example configuration of deploy/, with its webhooks pointed at the sink and short waits."""
    config = yaml.safe_load((REPO / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = sink.url(f"/{receiver['name']}")
    return config


def wait_until(what: str, condition: Any, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, f"{expr}: {response.text}"
    return response.json()["data"]["result"]


def test_alerts_route_and_dashboards_read_prometheus(traffic, tmp_path: Path) -> None:
    # short waits so that the test sees pending -> firing; the committed rules differ only in these durations
    settings = rules.RuleSettings(ticket_after="0s", page_after="3s", fingerprint_after="0s", absent_after="1s")
    rules.write(tmp_path / "rules", settings)
    sink = WebhookSink()
    try:
        with alertmanager(alertmanager_config(sink), tmp_path / "am") as am:
            prom_config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "rules" / rules.RULES_FILE)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.removeprefix("http://")]}]}]},
                "scrape_configs": [
                    {
                        "job_name": "envparity-collector",
                        "static_configs": [{"targets": [f"127.0.0.1:{traffic.port}"]}],
                    }
                ],
            }
            with prometheus(prom_config, tmp_path / "prom") as prom:
                _assert_pages(sink)
                _assert_panels_have_data(prom)
                _assert_dates_in_milliseconds(prom)
    finally:
        sink.close()


def _assert_pages(sink: WebhookSink) -> None:
    def paged(name: str, target: str) -> list[dict[str, Any]]:
        return [
            a for a in sink.alerts("/pager") if a["labels"]["alertname"] == name and a["labels"]["target"] == target
        ]

    drift = wait_until("the data drift page", lambda: paged("EnvParityDataDriftCritical", "production"))
    labels = drift[0]["labels"]
    assert labels["service"] == "fraud" and labels["baseline"] == "staging" and labels["subject"] == "amount"
    assert labels["severity"] == "critical" and labels["layer"] == "data" and labels["check"] == "psi"
    annotations = drift[0]["annotations"]
    assert "feature amount has PSI" in annotations["description"]
    assert annotations["runbook_url"].endswith("#envparitydatadriftcritical")
    package = wait_until("the package drift page", lambda: paged("EnvParityPackageDrift", "production"))
    assert package[0]["labels"]["subject"] == "package:numpy"

    # the same failing drift with the staging target (production is its baseline) is a warning: a ticket
    def ticketed() -> list[dict[str, Any]]:
        return [
            a
            for a in sink.alerts("/tickets")
            if a["labels"]["alertname"] == "EnvParityDataDriftCritical" and a["labels"]["target"] == "staging"
        ]

    ticket = wait_until("the non-production drift ticket", ticketed)
    assert ticket[0]["labels"]["severity"] == "warning" and ticket[0]["labels"]["baseline"] == "production"
    assert [a for a in sink.alerts("/pager") if a["labels"].get("target") == "staging"] == []
    assert {a["labels"]["severity"] for a in sink.alerts("/pager")} == {"critical"}
    # fingerprint drift against a non-production target is a warning: a ticket, never a page
    wait_until(
        "the package drift ticket for staging",
        lambda: [
            a
            for a in sink.alerts("/tickets")
            if a["labels"]["alertname"] == "EnvParityPackageDrift" and a["labels"]["severity"] == "warning"
        ],
    )


RUN = {"$baseline": "staging", "$target": "production", "$__rate_interval": "15s"}  # this run's pair and scrape


def _assert_panels_have_data(prom: str) -> None:
    queries = panel_queries()
    assert len(queries) >= 20
    empty: list[str] = []

    def all_answer() -> bool:
        empty[:] = [
            f"{board} / {title}: {expr}" for board, title, expr in queries if not query(prom, substitute(expr, RUN))
        ]
        return not empty

    try:
        wait_until("data for every panel", all_answer, timeout_s=60)
    except AssertionError:
        raise AssertionError("panels without data:\n" + "\n".join(empty)) from None


def _assert_dates_in_milliseconds(prom: str) -> None:
    """Grafana's date units read milliseconds: every value a date panel shows is a time of the last hour."""
    dated = [
        (f"{file} / {panel['title']}", target["expr"])
        for file, board in dashboard_files().items()
        for panel in board["panels"]
        if panel["fieldConfig"]["defaults"]["unit"].startswith("dateTime")
        for target in panel["targets"]
    ]
    assert dated
    now_ms = time.time() * 1000
    for where, expr in dated:
        values = [float(sample["value"][1]) for sample in query(prom, substitute(expr, RUN))]
        assert values and all(now_ms - 3_600_000 < v <= now_ms + 60_000 for v in values), f"{where}: {values}"


def test_scrape_is_promtool_clean_and_catalogued(traffic) -> None:
    from envparity.agent.catalogue import CATALOGUE
    from envparity.collector.exporter.gpu import DCGM_COUNTERS

    def scrape() -> str | None:
        text = httpx.get(f"{traffic.url}/metrics", timeout=10).text
        return text if "envparity_parity_score{" in text and "DCGM_FI_DEV_GPU_UTIL{" in text else None

    text = wait_until("a scrape with parity and GPU series", scrape, timeout_s=60)
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    # dcgm-exporter's ECC counters keep its names, which promtool would have end in _total
    dcgm = {f'{name.decode()} counter metrics should have "_total" suffix' for name in DCGM_COUNTERS}
    problems = [line for line in (lint.stdout + lint.stderr).splitlines() if line not in dcgm]
    assert problems == [] and lint.returncode in (0, 3), lint.stdout + lint.stderr
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    # the exposition's TYPE line names a counter without its _total suffix; process_* are prometheus-client's own
    missing = {f for f in families if f not in CATALOGUE and f"{f}_total" not in CATALOGUE}
    missing -= {f for f in missing if f.startswith("process_")}
    assert "process_resident_memory_bytes" in families
    assert missing == set(), f"exported but not catalogued: {missing}"
    for name in ("envparity_requests_total", "envparity_environment_last_snapshot_timestamp_seconds"):
        assert f"{name}{{" in text
