"""Collector ingest over real HTTP, on a DuckDB file and on a PostgreSQL server."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime

import httpx
import pytest
from helpers import SOURCES, make_snapshot, post_snapshot

from envparity.agent.wire import RequestAggregates, Sample


def counts(collector) -> dict[str, int]:
    return httpx.get(f"{collector.url}/v1/store").json()["rows"]


def test_stores_once_and_answers_duplicates(collector):
    snap = make_snapshot()
    first = post_snapshot(collector.url, snap)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False
    again = post_snapshot(collector.url, snap)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert counts(collector)["snapshots"] == 1


def test_same_sequence_with_other_body_is_a_conflict(collector):
    assert post_snapshot(collector.url, make_snapshot()).status_code == 200
    other = make_snapshot(requests=RequestAggregates(requests=5))
    response = post_snapshot(collector.url, other)
    assert response.status_code == 409
    assert "different body" in response.json()["error"]
    assert counts(collector)["request_windows"] == 0


def test_hash_only_snapshot_needs_a_known_fingerprint(collector):
    snap = make_snapshot(sequence=0)
    unknown = make_snapshot(sequence=0, acked=snap.fingerprint.hash)
    assert unknown.fingerprint is None
    response = post_snapshot(collector.url, unknown)
    assert response.status_code == 409
    assert response.json()["code"] == "unknown_fingerprint"
    assert post_snapshot(collector.url, snap).status_code == 200
    later = make_snapshot(sequence=1, acked=snap.fingerprint.hash)
    assert post_snapshot(collector.url, later).status_code == 200
    assert counts(collector)["fingerprints"] == 1
    assert counts(collector)["snapshots"] == 2


def test_requests_and_samples_are_stored(collector):
    ts = datetime(2026, 11, 1, 11, 59, 30, tzinfo=UTC)
    samples = [
        Sample(
            ts=ts,
            request_id=f"r{i}",
            features={"amount": i * 1.5, "merchant": "grocery", "flag": True, "missing": None},
            prediction=0.5,
            confidence=0.9,
            latency_s=0.01,
        )
        for i in range(10)
    ]
    counts_req = RequestAggregates(requests=100, errors={"http_5xx": 3})
    counts_req.latency_bucket_counts[4] = 100
    response = post_snapshot(collector.url, make_snapshot(requests=counts_req, samples=samples))
    assert response.status_code == 200, response.text
    envs = httpx.get(f"{collector.url}/v1/environments").json()["environments"]
    assert envs[0]["requests"] == 100
    assert envs[0]["errors"] == 3
    assert envs[0]["samples"] == 10
    assert counts(collector)["feature_columns"] == 4  # one row per feature of the snapshot


@pytest.mark.parametrize(
    ("mutate", "status", "needle"),
    [
        (lambda d: d["header"].__setitem__("sequence", -1), 422, "header.sequence"),
        (lambda d: d["header"].pop("service"), 422, "header.service"),
        (lambda d: d["header"].__setitem__("wire_version", "2.0"), 422, "unsupported wire version 2.0"),
        (lambda d: d["header"].__setitem__("window_start", "2026-11-01T12:00:00"), 422, "UTC offset"),
        (
            lambda d: d["fingerprint"]["code"]["packages"].__setitem__("numpy", "0.0.1"),
            422,
            "does not match its content",
        ),
        (lambda d: d["header"].__setitem__("environment", "../etc"), 422, "header.environment"),
    ],
    ids=["negative-sequence", "missing-service", "unknown-major", "naive-time", "forged-hash", "bad-name"],
)
def test_invalid_snapshots_are_refused_and_change_nothing(collector, mutate, status, needle):
    assert post_snapshot(collector.url, make_snapshot(sequence=0)).status_code == 200
    before = counts(collector)
    data = json.loads(make_snapshot(sequence=1).model_dump_json())
    mutate(data)
    response = post_snapshot(collector.url, json.dumps(data).encode())
    assert response.status_code == status, response.text
    assert needle in response.text
    assert counts(collector) == before


def test_undecodable_bodies(collector):
    assert post_snapshot(collector.url, make_snapshot()).status_code == 200
    before = counts(collector)
    url = f"{collector.url}/v1/snapshots"
    cases = [
        (b"{not json", {}, 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", {}, 400, "not"),
        (b"", {}, 400, "empty body"),
        (b"this is not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b'{"header": {}}')[:-8], {"Content-Encoding": "gzip"}, 400, "truncated"),
        (b"{}", {"Content-Encoding": "br"}, 415, "unsupported Content-Encoding"),
        (b"[1, 2, 3]", {}, 422, "invalid snapshot"),
    ]
    for body, headers, status, needle in cases:
        response = httpx.post(url, content=body, headers=headers)
        assert response.status_code == status, (body[:20], response.text)
        assert needle in response.json()["error"]
    assert counts(collector) == before


def test_size_limit_and_gzip_bomb(start_collector, store_url):
    collector = start_collector(store_url, "--max-body-bytes", "100000")
    plain = b"{" + b" " * 200_000 + b"}"
    response = post_snapshot(collector.url, plain, gzip_body=False)
    assert response.status_code == 413
    # 64 MiB of zeros gzips to about 64 KiB, under the limit; the collector must refuse it without inflating it.
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    assert len(bomb) < 100_000
    response = httpx.post(
        f"{collector.url}/v1/snapshots", content=bomb, headers={"Content-Encoding": "gzip"}, timeout=60
    )
    assert response.status_code == 413
    assert "after decompression" in response.json()["error"]
    assert post_snapshot(collector.url, make_snapshot()).status_code == 200
    assert counts(collector)["snapshots"] == 1


def test_twenty_agents_concurrently_lose_nothing(collector):
    per_agent = 10
    failures: list[str] = []

    def push(agent: int) -> None:
        for seq in range(per_agent):
            snap = make_snapshot(
                agent_id=f"agent-{agent}",
                sequence=seq,
                environment="staging" if agent % 2 else "production",
                requests=RequestAggregates(requests=seq + 1),
            )
            response = post_snapshot(collector.url, snap)
            if response.status_code != 200:
                failures.append(response.text)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    stored = counts(collector)
    assert stored["snapshots"] == 20 * per_agent
    assert stored["request_windows"] == 20 * per_agent
    envs = {e["environment"]: e for e in httpx.get(f"{collector.url}/v1/environments").json()["environments"]}
    expected_requests = 10 * sum(range(1, per_agent + 1))
    assert envs["staging"]["requests"] == expected_requests
    assert envs["production"]["requests"] == expected_requests
    assert len(envs["staging"]["agents"]) == 10


def test_fingerprint_endpoints_and_metrics(collector):
    snap = make_snapshot()
    assert post_snapshot(collector.url, snap).status_code == 200
    fp = httpx.get(f"{collector.url}/v1/fingerprints", params={"service": "fraud", "environment": "staging"})
    assert fp.status_code == 200
    assert fp.json()["hash"] == snap.fingerprint.hash
    missing = httpx.get(f"{collector.url}/v1/fingerprints", params={"service": "fraud", "environment": "nowhere"})
    assert missing.status_code == 404
    metrics = httpx.get(f"{collector.url}/metrics").text
    assert 'envparity_snapshots_ingested_total{outcome="stored"} 1.0' in metrics
    assert "envparity_ingest_duration_seconds_count 1.0" in metrics
    assert httpx.get(f"{collector.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{collector.url}/ready").status_code == 200


def _push_a_config_change(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging and production of fraud whose fingerprints differ by one variable, production's
    ENVPARITY_TEST_CACHE_TTL=3600."""
    from envparity.agent.fingerprint import take_fingerprint

    staging = make_snapshot(environment="staging", fingerprint=take_fingerprint(SOURCES))  # the same moment's env
    monkeypatch.setenv("ENVPARITY_TEST_CACHE_TTL", "3600")
    production = make_snapshot(agent_id="agent-2", environment="production", fingerprint=take_fingerprint(SOURCES))
    for snap in (staging, production):
        assert post_snapshot(url, snap).status_code == 200


def _fingerprint_diff(url: str, target: str) -> httpx.Response:
    params = {"service": "fraud", "baseline": "staging", "target": target}
    return httpx.get(f"{url}/v1/fingerprints/diff", params=params)


def test_fingerprint_diff_endpoint(collector, monkeypatch):
    _push_a_config_change(collector.url, monkeypatch)
    diff = _fingerprint_diff(collector.url, "production").json()
    assert diff["status"] == "fail"
    assert [(i["key"], i["change"], i["target"]) for i in diff["items"]] == [
        ("env:ENVPARITY_TEST_CACHE_TTL", "added", "3600")
    ]
    assert _fingerprint_diff(collector.url, "qa").status_code == 404


def test_fingerprint_diff_endpoint_follows_the_policy_file(start_collector, tmp_path, monkeypatch):
    """An expected difference declared in the thresholds file is not a difference for the API either."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "services:\n  fraud:\n    rules:\n"
        "      - {dimension: config, key: 'env:ENVPARITY_TEST_CACHE_TTL', severity: ignore}\n"
    )
    collector = start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}", "--thresholds", str(policy))
    _push_a_config_change(collector.url, monkeypatch)
    diff = _fingerprint_diff(collector.url, "production").json()
    assert (diff["status"], diff["items"]) == ("ok", [])
