"""Fuzzing a real collector over HTTP, on DuckDB and on PostgreSQL: whatever arrives, never a 5xx.

Three generators: schemathesis, from the collector's own ``/openapi.json`` (which
describes the snapshot body), valid and invalid requests for every operation;
hypothesis, real snapshots whose JSON is mutated (values swapped for any JSON,
keys dropped or added, samples grown, hostile text spliced in), posted plain or
gzipped; and gzip members cut and spliced with noise. What the wire model accepts
the store must hold: such a body is stored (200, or 409 for a repeated agent or a
dropped fingerprint). The examples are bounded and the same on every run: the
module takes under a minute on two cores.
"""

from __future__ import annotations

import gzip
import itertools
import json
from typing import Any

import httpx
import pytest
import schemathesis
from helpers import make_snapshot, post_snapshot, push_environment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from envparity.agent.wire import Snapshot

EXAMPLES_PER_OPERATION = 30
MUTATED_SNAPSHOTS = 300


def fuzz(examples: int) -> settings:
    """Hypothesis settings of this module: ``examples`` examples, no deadline, the same examples on every run."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # a failure here is reproducible
    )


@pytest.fixture
def fed(start_collector, store_url):
    """A collector holding two environments of one service, so that reads reach real evaluations."""
    collector = start_collector(store_url, "--evaluate-every", "0")
    push_environment(collector.url, "production", 0.0, 1, "agent-prod")
    push_environment(collector.url, "staging", 0.3, 2, "agent-stage")
    return collector


def _rows(collector) -> dict[str, int]:
    return httpx.get(f"{collector.url}/v1/store").json()["rows"]


def _inputs(operation: schemathesis.APIOperation) -> bool:
    """Whether an operation takes anything that could be made invalid (query parameters or a body)."""
    return bool(list(operation.query) or operation.body)


def test_openapi_operations_never_answer_5xx(fed):
    schema = schemathesis.openapi.from_url(f"{fed.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/snapshots", "/v1/outcomes", "/v1/parity", "/report"}
    stored = _rows(fed)["snapshots"]
    for operation, mode in itertools.product(operations, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]):
        if mode is GenerationMode.NEGATIVE and not _inputs(operation):
            continue

        @fuzz(EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=fed.url, checks=[not_a_server_error], timeout=60)

        call()
    assert _rows(fed)["snapshots"] >= stored  # nothing stored before was lost


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value, the root excluded."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    return [p for key, child in children for p in [(*prefix, key), *_paths(child, (*prefix, key))]]


# Text that once cost a 500 or seconds, spliced into the JSON at a random place (the last: bytes not UTF-8).
AGENT = "fuzz-000000"  # replaced by the test with an agent id of the same length for each example
HOSTILE = ["[" * 100_000, "9" * 5000, "-1e999", "NaN", '"\\ud800"', '"\\u0000"', "\x00", "\ud800"]


def _samples(draw: st.DrawFn, ts: str) -> list[dict[str, Any]]:
    sample = st.fixed_dictionaries(
        {"ts": st.just(ts)},
        optional={
            "request_id": st.text(max_size=20),
            "features": st.dictionaries(st.text(max_size=10), JSON, max_size=5),
            "prediction": JSON,
            "confidence": st.floats(),
            "latency_s": st.floats(),
        },
    )
    return draw(st.lists(sample, max_size=5))


def _mutate(draw: st.DrawFn, data: dict[str, Any]) -> None:
    """Replace a value with any JSON, drop a key or add one, somewhere in ``data``."""
    *parent_path, key = draw(st.sampled_from(_paths(data)))
    parent = data
    for step in parent_path:
        parent = parent[step]
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        parent[key] = draw(JSON)
    elif action == "drop" and isinstance(parent, dict):
        del parent[key]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(JSON)


@st.composite
def mutated_snapshots(draw: st.DrawFn) -> bytes:
    """A real snapshot's JSON with samples grown, a few values mutated, and now and then hostile text spliced in."""
    data = json.loads(make_snapshot(agent_id=AGENT, sequence=0).model_dump_json())
    data["samples"] = _samples(draw, data["header"]["window_end"])
    for _ in range(draw(st.integers(0, 4))):
        _mutate(draw, data)
    text = json.dumps(data, allow_nan=True)
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(HOSTILE)) + text[at:]
    return text.encode("utf-8", "surrogatepass")


def _accepted_by_the_wire_model(body: bytes) -> bool:
    try:
        Snapshot.model_validate_json(body)
    except ValidationError:
        return False
    return True


def test_mutated_snapshots_never_answer_5xx(fed):
    agents = itertools.count(1)
    answers: dict[int, int] = {}

    @fuzz(MUTATED_SNAPSHOTS)
    @given(body=mutated_snapshots(), compress=st.booleans())
    def post(body: bytes, compress: bool) -> None:
        body = body.replace(AGENT.encode(), f"fuzz-{next(agents):06d}".encode(), 1)  # a new agent: never a repeat
        response = post_snapshot(fed.url, body, gzip_body=compress)
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        if _accepted_by_the_wire_model(body):  # stored; 409 if a mutation dropped the fingerprint or the agent id
            assert response.status_code in (200, 409), response.text

    before = _rows(fed)
    post()
    assert {200, 400, 422} <= answers.keys(), answers  # stored, not JSON, and invalid bodies were all generated
    after = _rows(fed)
    assert all(after[table] >= count for table, count in before.items()), (before, after)


def test_gzip_of_mutated_bytes_never_answers_5xx(fed):
    member = gzip.compress(make_snapshot(agent_id="bytes", sequence=1).model_dump_json().encode())

    @fuzz(60)
    @given(cut=st.integers(0, len(member)), noise=st.binary(max_size=64), where=st.integers(0, len(member)))
    def post(cut: int, noise: bytes, where: int) -> None:
        body = member[:where] + noise + member[where:cut] if cut > where else member[:cut] + noise
        response = post_snapshot(fed.url, body, gzip_body=False, headers={"Content-Encoding": "gzip"})
        assert response.status_code < 500, response.text

    post()
