"""Golden probes in parts: the answers' storage and migration on both backends, the check, outputs and inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from helpers import make_snapshot

from envparity.agent.environ import SettingsError
from envparity.agent.probes.inputs import load_inputs
from envparity.agent.probes.outputs import MissingOutput, extract
from envparity.agent.wire import ProbeResult, ProbeSection, Snapshot
from envparity.collector.parity.checks.golden import GoldenProbes, ProbeAnswers, golden_checks
from envparity.collector.parity.model import ParityConfig, Thresholds, ThresholdsFile
from envparity.collector.store import Store
from envparity.collector.store import schema as tables
from envparity.collector.store.probes import read_probes

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _probed(sequence: int, *results: ProbeResult) -> Snapshot:
    return make_snapshot(sequence=sequence, probes=ProbeSection(results=list(results)))


def _answer(ident: str, at: datetime, **outputs: float | str) -> ProbeResult:
    return ProbeResult(id=ident, ts=at, outputs={f"/{k}": v for k, v in outputs.items()})


def _as_version_3(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        tables.probe_outputs.drop(conn)
        conn.execute(tables.meta.update().values(value="3"))
    engine.dispose()


def test_version_3_gains_the_probe_answers_and_reads_the_newest_per_input(store_url):
    Store(store_url).close()
    _as_version_3(store_url)
    store = Store(store_url)  # migrates
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(tables.meta.c.value)).scalar_one() == str(tables.SCHEMA_VERSION)
        early, late = T0 - timedelta(minutes=10), T0 - timedelta(minutes=5)
        store.ingest(_probed(0, _answer("a", early, score=0.5, label="ok")), "a" * 64, T0)
        failed = ProbeResult(id="b", ts=late, error="timeout")
        result = store.ingest(_probed(1, _answer("a", late, score=0.75), failed), "b" * 64, T0)
        assert result.rows["probe_outputs"] == 2
        window = (T0 - timedelta(hours=1), T0)
        answers = read_probes(store, "fraud", {"staging": window, "staging@30m": window, "production": window})
    finally:
        store.close()
    assert answers["staging"] == ProbeAnswers({"a": {"/score": 0.75, "/label": "ok"}}, {"timeout": 1})
    assert answers["staging@30m"] == ProbeAnswers()  # 90 to 30 minutes before: nothing yet
    assert answers["production"] == ProbeAnswers()


def _golden(baseline: dict, target: dict, tolerances: dict | None = None):
    probes = GoldenProbes(ProbeAnswers(baseline), ProbeAnswers(target), tolerances or {})
    return {c.subject: c for c in golden_checks(probes, Thresholds())}


def test_numbers_differ_by_their_distance_and_strings_by_equality():
    checks = _golden(
        {"a": {"/score": 0.5, "/label": "ok"}, "b": {"/score": 0.2, "/label": "ok"}},
        {"a": {"/score": 0.5 + 2e-4, "/label": "ok"}, "b": {"/score": 0.2, "/label": "fraud"}},
    )
    score, label = checks["/score"], checks["/label"]
    assert score.status == "fail" and score.value == pytest.approx(2e-4) and score.threshold == 1e-4
    assert "1 beyond the tolerance 0.0001; worst: a (0.5 vs 0.5002)" in score.detail
    assert label.status == "fail" and label.value == 1.0 and "b ('ok' vs 'fraud')" in label.detail
    assert _golden({"a": {"/x": "v"}}, {"a": {"/x": "v"}})["/x"].status == "ok"


def test_an_output_s_own_tolerance_judges_it_and_is_shown():
    checks = _golden({"a": {"/score": 0.5, "/p": 0.1}}, {"a": {"/score": 0.5005, "/p": 0.1005}}, {"/score": 1e-3})
    assert (checks["/score"].status, checks["/score"].threshold) == ("ok", 1e-3)
    assert (checks["/p"].status, checks["/p"].threshold) == ("fail", 1e-4)
    config = ParityConfig(
        ThresholdsFile(
            defaults={"golden_tolerances": {"/a": 0.1, "/b": 0.2}},
            services={"fraud": {"golden_tolerances": {"/b": 0.3}}},
        )
    )
    assert config.golden_tolerances("fraud") == {"/a": 0.1, "/b": 0.3}
    assert config.golden_tolerances("other") == {"/a": 0.1, "/b": 0.2}


def test_an_output_answered_on_one_side_only_is_not_judged():
    [check] = _golden({"a": {"/score": 0.5}}, {}).values()
    assert check.status == "insufficient_data" and "(1 baseline, 0 target)" in check.detail
    assert golden_checks(None, Thresholds()) == []


def test_outputs_by_pointer_by_default_under_the_pointers_asked_or_per_entity():
    answer = {"predictions": [{"score": 0.5, "flag": True, "note": None}], "a/b": {"~c": "x"}}
    assert extract(answer, {}) == [("", {"/a~1b/~0c": "x", "/predictions/0/flag": "true", "/predictions/0/score": 0.5})]
    assert extract(answer, {}, ["/predictions/0/score"]) == [("", {"/predictions/0/score": 0.5})]
    with pytest.raises(MissingOutput, match="/missing"):
        extract(answer, {}, ["/missing"])
    feast = {
        "metadata": {"feature_names": ["user_id", "count"]},
        "results": [{"values": [1, 2]}, {"values": [5.0, 7.0]}],
    }
    rows = extract(feast, {"features": ["count"], "entities": {"user_id": [1, 2]}})
    assert rows == [("user_id=1", {"count": 5.0}), ("user_id=2", {"count": 7.0})]
    assert extract(feast, {"entities": {"user_id": [1, 2, 3]}})[0][0] == ""  # rows that do not match: by pointer


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no input"),
        ('{"id": "a"}\n', 'line 1: expected {"id": "...", "body": ...}'),
        ('{"id": "a", "body": 1}\nnot json\n', "line 2: Expecting value"),
        ('{"id": "", "body": 1}\n', "line 1: id must be a non-empty string"),
        ('{"id": "a", "body": 1}\n\n{"id": "a", "body": 2}\n', "line 3: id 'a' appears twice"),
    ],
)
def test_a_bad_inputs_file_is_refused_naming_the_line(tmp_path, text, error):
    path = tmp_path / "inputs.jsonl"
    path.write_text(text)
    with pytest.raises(SettingsError, match=error.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        load_inputs(path)
