"""Hostile bodies and queries over real HTTP, on both backends: refused with a 4xx, nothing stored before lost.

Each case was once a 500 or cost seconds: JSON nested 100,000 deep, a 5,000-digit
integer, an earlier-window baseline the duration parser cannot read, data after
the gzip member, a gzip header that inflates to nothing, a large body sent
without a token.
"""

from __future__ import annotations

import gzip
import json
import struct
import time
import zlib

import httpx
import pytest
from helpers import make_snapshot, post_snapshot

from envparity.agent.wire import RequestAggregates

DEEP = 100_000
HUGE_INT = "9" * 5000


def counts(collector) -> dict[str, int]:
    return httpx.get(f"{collector.url}/v1/store").json()["rows"]


def _with_sequence(raw: str) -> bytes:
    """A valid snapshot body whose header.sequence is ``raw`` JSON text."""
    body = make_snapshot(sequence=1).model_dump_json()
    return body.replace('"sequence":1,', f'"sequence":{raw},', 1).encode()


def _with_feature(raw: str) -> bytes:
    """A snapshot body with one sample whose feature ``x`` is ``raw`` JSON text."""
    snap = make_snapshot(sequence=1)
    data = json.loads(snap.model_dump_json())
    data["samples"] = [{"ts": data["header"]["window_end"], "request_id": "r1", "features": {"x": "PLACEHOLDER"}}]
    return json.dumps(data).replace('"PLACEHOLDER"', raw).encode()


HOSTILE_BODIES = {
    "nested-100k-arrays": b"[" * DEEP + b"]" * DEEP,
    "nested-100k-objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "nested-inside-a-snapshot": _with_feature('{"a":' * DEEP + "1" + "}" * DEEP),
    "5000-digit-sequence": _with_sequence(HUGE_INT),
    "5000-digit-feature": _with_feature(HUGE_INT),
    "5000-digit-negative-feature": _with_feature("-" + HUGE_INT),
    "1e400-feature": _with_feature("1e400"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_hostile_json_is_refused_and_changes_nothing(collector, compress):
    assert post_snapshot(collector.url, make_snapshot(sequence=0)).status_code == 200
    before = counts(collector)
    for name, body in HOSTILE_BODIES.items():
        response = post_snapshot(collector.url, body, gzip_body=compress)
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert "\n" not in error and len(error) < 1000, (name, error[:300])
    assert counts(collector) == before


def test_not_json_is_400_and_invalid_is_422_with_fields(collector):
    cases = [
        (b"[" * DEEP, 400, "body is not valid JSON: recursion limit exceeded"),
        (b'{"header": {"sequence": 1}', 400, "body is not valid JSON: EOF"),
        (_with_sequence(HUGE_INT), 400, "body is not valid JSON: number out of range"),
        (_with_sequence('"x"'), 422, "invalid snapshot: header.sequence:"),
        (_with_sequence("9" * 30), 422, "invalid snapshot: header.sequence:"),
    ]
    for body, status, needle in cases:
        response = post_snapshot(collector.url, body)
        assert response.status_code == status, (body[:40], response.text[:300])
        assert response.json()["error"].startswith(needle), response.text[:300]
        if status == 422:
            assert response.json()["errors"][0]["field"] == "header.sequence"


def test_outcomes_hostile_json_is_refused(collector):
    url = f"{collector.url}/v1/outcomes"
    deep = b'{"service": "fraud", "environment": "staging", "outcomes": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    huge = (
        f'{{"service": "fraud", "environment": "staging", "outcomes": [{{"request_id": "r", "outcome": {HUGE_INT}}}]}}'
    )
    for body, status in ((deep, 400), (huge.encode(), 400), (huge.replace(HUGE_INT, "1").encode(), 200)):
        response = httpx.post(url, content=body, timeout=30)
        assert response.status_code == status, response.text[:300]
    assert counts(collector)["outcomes"] == 1


@pytest.fixture
def two_environments(collector):
    for i, env in enumerate(("production", "staging")):
        snap = make_snapshot(agent_id=f"agent-{env}", environment=env, requests=RequestAggregates(requests=10 + i))
        assert post_snapshot(collector.url, snap).status_code == 200
    return collector


@pytest.mark.parametrize(
    "query",
    [
        {"baseline": "production@bogus"},
        {"target": "staging@bogus"},
        {"baseline": "production@99999999999w"},
        {"baseline": "production@1e308w"},
        {"window": "bogus"},
        {"window": "99999999999w"},
        {"window": "1e308w", "fresh": "true"},
        {"at": "0001-01-01T00:00:00Z", "window": "1h"},
        {"at": "0001-01-01T00:00:00Z", "fresh": "true"},
    ],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()),
)
def test_unreadable_baseline_or_window_is_a_bad_request(two_environments, query):
    params = {"service": "fraud", "baseline": "production", "target": "staging", **query}
    before = counts(two_environments)
    for path in ("/v1/parity", "/report"):
        if path == "/report" and ("window" in query or "at" in query):
            continue  # the report takes neither
        response = httpx.get(f"{two_environments.url}{path}", params=params, timeout=60)
        assert response.status_code in (400, 422), (path, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert "\n" not in error, error
    assert counts(two_environments) == before


def _gzip_with_comment(payload: bytes, comment_bytes: int) -> bytes:
    """A gzip member whose header carries a comment (FCOMMENT) of ``comment_bytes``: input that inflates to nothing."""
    header = b"\x1f\x8b\x08\x10" + b"\0\0\0\0" + b"\0\xff" + b"c" * comment_bytes + b"\0"
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(payload) + deflate.flush()
    return header + body + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


def test_gzip_trailing_data_and_compressed_size(start_collector, store_url):
    collector = start_collector(store_url, "--max-body-bytes", str(1 << 20))  # more than a socket read holds
    assert post_snapshot(collector.url, make_snapshot(sequence=0)).status_code == 200
    before = counts(collector)
    member = gzip.compress(make_snapshot(sequence=1).model_dump_json().encode())
    hdrs = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    cases = [
        (member + b"\0" * 16, 400, "trailing data"),
        (member + member, 400, "trailing data"),
        (member + b"\0" * (64 << 20), 400, "trailing data"),
        (_gzip_with_comment(make_snapshot(sequence=1).model_dump_json().encode(), 2 << 20), 413, "compressed"),
    ]
    for body, status, needle in cases:
        started = time.monotonic()
        response = httpx.post(f"{collector.url}/v1/snapshots", content=body, headers=hdrs, timeout=60)
        assert response.status_code == status, response.text[:300]
        assert needle in response.json()["error"]
        assert time.monotonic() - started < 5, "refused only after reading everything"
    assert counts(collector) == before
    assert httpx.post(f"{collector.url}/v1/snapshots", content=member, headers=hdrs).status_code == 200
