"""A window always seals: values the wire cannot carry are cleaned at seal time and counted, never a lost window."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import httpx
from capture_apps import model_app, serve
from helpers import OFFLINE, counts_by_reason, make_agent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envparity.agent import Agent, EnvParityMiddleware
from envparity.agent.wire import MAX_FEATURES, Snapshot


def offline_agent(spool: Path, **options: Any) -> Agent:
    """An agent whose collector is never reached: windows are sealed by hand and read back from the spool."""
    return make_agent(OFFLINE, spool, **options)


def spooled(agent: Agent, sequence: int) -> Snapshot:
    """The spooled snapshot of ``sequence``, validated as the collector validates it."""
    body = (agent.spool.root / "pending" / f"{sequence:012d}.json.gz").read_bytes()
    return Snapshot.model_validate_json(gzip.decompress(body))


def cleaned(agent: Agent) -> dict[str, float]:
    """envparity_agent_values_cleaned_total by reason."""
    return counts_by_reason(agent, "envparity_agent_values_cleaned")


def test_a_lone_surrogate_loses_no_window(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path / "spool", sample_size=500)
    for i in range(300):
        agent.record(request_id=f"r{i}", features={"merchant": "caf\ud800" if i == 7 else "cafe", "amount": i})
    first = agent.seal_window()
    agent.record(request_id="after", features={"amount": 1})
    second = agent.seal_window()
    assert second == first + 1  # no sequence number was taken by a failed seal
    snap = spooled(agent, first)
    assert snap.requests is not None and snap.requests.requests == 300
    assert snap.samples is not None and len(snap.samples) == 300
    assert {s.features["merchant"] for s in snap.samples} == {"cafe", "caf\ufffd"}
    assert cleaned(agent) == {"surrogate": 1}
    agent.close(timeout=0)


def test_values_beyond_the_wire_limits_are_cleaned_and_counted(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path / "spool")
    agent.record(
        request_id="r" * 300,
        features={"note": "a\x00b", "big": 2**70, "inf": float("inf"), "x" * 300: 1, "ok": 1, "nul\x00name": 2},
        prediction=float("nan"),
        confidence=float("inf"),
        latency_s=-1.0,
        model_version="v" * 200,
        error="E" * 200,
        ts=1e20,
    )
    agent.record_outcome("o" * 300, 1)
    agent.record_outcome("nan", float("nan"))  # no outcome to send
    sequence = agent.seal_window()
    snap = spooled(agent, sequence)
    [sample] = snap.samples or []
    assert sample.request_id == "r" * 256 and sample.model_version == "v" * 128 and sample.error == "E" * 128
    assert sample.features == {"note": "ab", "big": None, "inf": None, "ok": 1}
    assert sample.prediction is None and sample.confidence is None and sample.latency_s is None
    assert abs(sample.ts.timestamp() - time.time()) < 60  # a time the wire cannot carry becomes the seal's
    assert [o.request_id for o in snap.outcomes or []] == ["o" * 256]
    assert snap.requests is not None and snap.requests.errors == {"E" * 128: 1}
    assert snap.requests.latency_bucket_counts == [0] * len(snap.requests.latency_bucket_counts)
    assert cleaned(agent) == {
        "truncated": 5,  # request id, model version, error (sample and counters), outcome's request id
        "nul": 1,
        "out_of_range": 3,  # 2**70, the latency (once, when counted), the time
        "non_finite": 4,  # inf feature, prediction, confidence, the outcome
        "feature_name": 2,
    }
    agent.close(timeout=0)


def test_feature_names_and_error_classes_stay_within_the_wire_bounds(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path / "spool", sample_size=400)
    for i in range(3):
        agent.record(features={f"f{i}_{j}": j for j in range(500)}, error=f"E{i}")
    for i in range(300):
        agent.record(error=f"class{i}")
    snap = spooled(agent, agent.seal_window())
    names = {name for s in snap.samples or [] for name in s.features}
    assert len(names) == MAX_FEATURES
    assert snap.requests is not None and len(snap.requests.errors) == 256
    assert sum(snap.requests.errors.values()) == 303 and snap.requests.errors["other"] == 303 - 255
    assert cleaned(agent) == {"feature_limit": 500, "error_classes": 303 - 255}
    agent.close(timeout=0)


_CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00"))
TEXT = st.text(_CHARS, max_size=300) | st.text(max_size=5000)
NUMBER = st.integers() | st.floats() | st.integers(min_value=-(2**70), max_value=2**70)
VALUE = st.none() | st.booleans() | NUMBER | TEXT
RECORD = st.fixed_dictionaries(
    {},
    optional={
        "request_id": st.none() | TEXT,
        "features": st.dictionaries(TEXT, VALUE, max_size=6),
        "prediction": VALUE,
        "confidence": st.none() | NUMBER,
        "latency_s": st.none() | NUMBER,
        "model_version": st.none() | TEXT,
        "error": st.none() | TEXT,
        "ts": st.none() | NUMBER,
    },
)


def test_any_recorded_values_seal_into_a_snapshot_the_collector_accepts(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path / "spool", sample_size=5)

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records=st.lists(RECORD, min_size=1, max_size=8), outcomes=st.lists(st.tuples(TEXT, VALUE), max_size=3))
    def sealed_and_valid(records: list[dict[str, Any]], outcomes: list[tuple[str, Any]]) -> None:
        for record in records:
            agent.record(**record)
        for request_id, outcome in outcomes:
            agent.record_outcome(request_id, outcome)
        snap = spooled(agent, agent.seal_window())
        assert snap.requests is not None and snap.requests.requests == len(records)

    sealed_and_valid()
    agent.close(timeout=0)


def test_a_surrogate_through_the_middleware_loses_no_request(duck_collector, tmp_path: Path) -> None:
    agent = make_agent(duck_collector.url, tmp_path / "spool", window_s=3600, start=True)
    body = b'{"instances": [{"merchant": "\\ud800", "amount": 5}]}'  # a lone surrogate, as JSON escapes it
    with serve(EnvParityMiddleware(model_app(), agent)) as url:
        for i in range(50):
            headers = {"Content-Type": "application/json", "X-Request-ID": f"{i:03d}" + "x" * 297}
            assert httpx.post(f"{url}/v1/predict", content=body, headers=headers).status_code == 200
    assert agent.close()
    [env] = httpx.get(f"{duck_collector.url}/v1/environments").json()["environments"]
    assert env["requests"] == 50 and env["samples"] == 50
