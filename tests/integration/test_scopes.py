"""Token scopes over real HTTP: writes checked before the body, reads per service, the API description, /metrics.

An agent's token writes its own pair and reads nothing; a team's token reads
its services only; /metrics needs a `metrics` token when protected; without a
tokens file everything stays open.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from helpers import make_snapshot, post_snapshot, run_cli

from envparity.agent.wire import RequestAggregates
from envparity.collector.auth import AuthError, Authorizer, TokenEntry, TokensFileError

TOKENS = """
tokens:
  - {name: staging-agents, token: agent-token, write: ["fraud/staging"]}
  - {name: fraud-team, token: fraud-reader, read: ["fraud"]}
  - {name: payments-team, token: payments-reader, read: ["payments"]}
  - {name: admin, token: admin-token, read: ["*"], write: ["*"]}
  - {name: prometheus, token: scrape-token, metrics: true}
"""

DUCKDB = pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)  # scopes do not depend on the backend


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    path.write_text(TOKENS)
    return path


@pytest.fixture
def guarded(start_collector, store_url, tokens_file):
    collector = start_collector(store_url, "--tokens-file", str(tokens_file), "--max-body-bytes", str(100 << 20))
    for service, environment in (("fraud", "production"), ("fraud", "staging"), ("payments", "production")):
        snap = make_snapshot(agent_id=f"{service}-{environment}", service=service, environment=environment)
        assert post_snapshot(collector.url, snap, headers=bearer("admin-token")).status_code == 200
    return collector


def rows(collector) -> dict[str, int]:
    return httpx.get(f"{collector.url}/v1/store", headers=bearer("admin-token")).json()["rows"]


@DUCKDB
def test_the_write_token_is_checked_before_the_body_is_read(guarded):
    url = f"{guarded.url}/v1/snapshots"
    before = rows(guarded)
    assert httpx.post(url, content=b"{not json").status_code == 401  # not 400: the body is never parsed
    assert httpx.post(url, content=b"{not json", headers=bearer("wrong")).json()["error"] == "unknown token"
    read_only = httpx.post(url, content=b"{not json", headers=bearer("fraud-reader"))
    assert read_only.status_code == 403 and "may not write" in read_only.json()["error"]
    large = b'{"pad": "' + b"x" * (64 << 20) + b'"}'
    started = time.monotonic()
    response = httpx.post(url, content=large, timeout=60)
    assert response.status_code == 401, response.text[:200]  # not 422: never read, parsed or validated
    assert time.monotonic() - started < 5
    # which pair a token may write is known once the body is parsed: still 403
    elsewhere = make_snapshot(agent_id="a-prod", environment="production", sequence=7)
    refused = post_snapshot(guarded.url, elsewhere, headers=bearer("agent-token"))
    assert refused.status_code == 403 and "may not write fraud/production" in refused.json()["error"]
    assert rows(guarded) == before
    own = make_snapshot(agent_id="a-staging", environment="staging", requests=RequestAggregates(requests=3))
    assert post_snapshot(guarded.url, own, headers=bearer("agent-token")).status_code == 200


@DUCKDB
def test_an_agent_token_writes_only(guarded):
    for path in ("/v1/environments", "/v1/store", "/report", "/openapi.json", "/docs"):
        response = httpx.get(f"{guarded.url}{path}", headers=bearer("agent-token"))
        assert response.status_code == 403, (path, response.text[:200])
    query = {"service": "fraud", "baseline": "production", "target": "staging"}
    for path in ("/v1/parity", "/v1/parity/history", "/v1/fingerprints/diff"):
        assert httpx.get(f"{guarded.url}{path}", params=query, headers=bearer("agent-token")).status_code == 403


@DUCKDB
def test_reads_are_scoped_per_service(guarded):
    get = lambda path, **params: httpx.get(f"{guarded.url}{path}", params=params, headers=bearer("fraud-reader"))  # noqa: E731
    envs = get("/v1/environments").json()["environments"]
    assert sorted((e["service"], e["environment"]) for e in envs) == [("fraud", "production"), ("fraud", "staging")]
    assert get("/v1/fingerprints", service="fraud", environment="staging").status_code == 200
    refused = get("/v1/fingerprints", service="payments", environment="production")
    assert refused.status_code == 403 and refused.json()["error"] == "token 'fraud-team' may not read payments"
    pair = {"baseline": "production", "target": "staging"}
    for path in ("/v1/parity/history", "/v1/fingerprints/diff", "/v1/parity", "/report"):
        assert get(path, service="payments", **pair).status_code == 403, path
    assert get("/v1/parity/history", service="fraud", **pair).status_code == 200
    page = get("/report")
    assert page.status_code == 200 and "fraud" in page.text and "payments" not in page.text
    assert get("/v1/store").status_code == 403  # row counts of every service: read ["*"] only
    other = httpx.get(f"{guarded.url}/v1/environments", headers=bearer("payments-reader")).json()["environments"]
    assert [(e["service"], e["environment"]) for e in other] == [("payments", "production")]
    assert "fraud" not in httpx.get(f"{guarded.url}/report", headers=bearer("payments-reader")).text


@DUCKDB
def test_the_api_description_needs_a_read_token(guarded):
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert httpx.get(f"{guarded.url}{path}").status_code == 401, path
        assert httpx.get(f"{guarded.url}{path}", headers=bearer("fraud-reader")).status_code == 200, path
    described = httpx.get(f"{guarded.url}/openapi.json", headers=bearer("fraud-reader")).json()
    body = described["paths"]["/v1/snapshots"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Snapshot"} and "Header" in described["components"]["schemas"]
    for path in ("/health", "/ready", "/metrics"):  # probes, and /metrics unless protected
        assert httpx.get(f"{guarded.url}{path}").status_code == 200, path


@DUCKDB
@pytest.mark.parametrize("how", ["flag", "tokens-file"])
def test_protected_metrics_need_the_metrics_scope(start_collector, store_url, tokens_file, how):
    if how == "flag":
        collector = start_collector(store_url, "--tokens-file", str(tokens_file), "--protect-metrics")
    else:
        tokens_file.write_text("protect_metrics: true\n" + TOKENS)
        collector = start_collector(store_url, "--tokens-file", str(tokens_file))
    metrics = f"{collector.url}/metrics"
    assert httpx.get(metrics).status_code == 401
    refused = httpx.get(metrics, headers=bearer("admin-token"))
    assert refused.status_code == 403 and "may not read /metrics" in refused.json()["error"]
    scraped = httpx.get(metrics, headers=bearer("scrape-token"))
    assert scraped.status_code == 200 and "envparity_snapshots_ingested_total" in scraped.text
    assert httpx.get(f"{collector.url}/v1/environments", headers=bearer("scrape-token")).status_code == 403


def test_protecting_metrics_needs_a_tokens_file(tmp_path):
    result = run_cli("collector", "serve", "--db", str(tmp_path / "s.duckdb"), "--protect-metrics", "--port", "1")
    assert result.returncode != 0 and "needs a tokens file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@DUCKDB
def test_without_a_tokens_file_everything_is_open(collector):
    assert post_snapshot(collector.url, make_snapshot()).status_code == 200
    for path in ("/openapi.json", "/docs", "/redoc", "/metrics", "/v1/store", "/v1/environments", "/report"):
        assert httpx.get(f"{collector.url}{path}").status_code in (200, 404), path  # 404: the report of one env
    assert httpx.get(
        f"{collector.url}/v1/fingerprints", params={"service": "fraud", "environment": "staging"}
    ).is_success


def _entry(**fields) -> TokenEntry:
    return TokenEntry.model_validate({"name": "t", "token": "secret", **fields})


def test_token_scopes_are_granted_never_implied():
    assert not _entry(write=["fraud/staging"]).read
    assert _entry(read=["fraud", "pay*"]).may_read("payments") and not _entry(read=["fraud"]).may_read("fraud2")
    assert _entry(read=True).read == ["*"] and _entry(read=False).read == []  # tokens files before read scopes
    assert not _entry(read=["*"]).metrics
    authorizer = Authorizer([_entry(write=["fraud/staging"]), TokenEntry(name="r", sha256=_sha("r-token"), read=["*"])])
    assert authorizer.reader("Bearer r-token").name == "r"
    with pytest.raises(AuthError, match="may not read"):
        authorizer.reader("Bearer secret")
    with pytest.raises(TokensFileError):
        Authorizer(None, protect_metrics=True)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
