"""Probable causes end to end: stored snapshots and evaluations (DuckDB, PostgreSQL), through the service and the API.

Three ways to rank, as the rule in docs/statistics.md says: declared lineage, time
alignment alone (a config key that changed 20 minutes before the symptom, against a
difference that was always there), and neither (structure, then dimension order).
Then the streak a stored evaluation hands on, and what /v1/parity, /report, /metrics
and ``check`` show.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from helpers import run_check

from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.snapshot import build_snapshot
from envparity.agent.wire import Fingerprint, RequestAggregates, Sample
from envparity.collector.parity.model import ParityConfig, ThresholdsFile
from envparity.collector.service import ParityService
from envparity.collector.store import Store, database_url

PANDAS, TTL, NORMALISATION = "package:pandas", "file:serving.json:feature_store.cache_ttl_s", "artifact:normalisation"
PAIR = {"service": "fraud", "baseline": "staging", "target": "production"}
LINEAGE = {"amount_z": [NORMALISATION]}


def _fingerprint(root: Path, pandas: str, ttl: int | None = None, statistics: str = "30d") -> Fingerprint:
    """An environment's fingerprint from its lock file, serving config and normalisation statistics."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.lock").write_text(f"pandas=={pandas}\nnumpy==1.26.4\n")
    store = {"timeout_s": 0.5, **({"cache_ttl_s": ttl} if ttl else {})}
    (root / "serving.json").write_text(json.dumps({"feature_store": store}))
    (root / "normalisation.json").write_text(json.dumps({"window": statistics}))
    return take_fingerprint(
        FingerprintSources(
            packages_from=root / "requirements.lock",
            config_files={"serving.json": root / "serving.json"},
            artifacts={"normalisation": root / "normalisation.json"},
        )
    )


def _push(store: Store, environment: str, sequence: int, fp: Fingerprint, end: datetime, shift: float) -> None:
    """One minute of 600 requests whose ``amount_z`` is shifted by ``shift`` standard deviations."""
    rng = np.random.default_rng(sequence)
    samples = [
        Sample(ts=end - timedelta(seconds=59) + timedelta(milliseconds=50 * i), features={"amount_z": float(x) + shift})
        for i, x in enumerate(rng.normal(size=600))
    ]
    snap = build_snapshot(
        agent_id=f"agent-{environment}",
        sequence=sequence,
        service="fraud",
        environment=environment,
        window_start=end - timedelta(minutes=1),
        window_end=end,
        fingerprint=fp,
        requests=RequestAggregates(requests=600),
        samples=samples,
    )
    store.ingest(snap, f"{environment}{sequence}".ljust(64, "0"), end)


def _store(url: str, tmp_path: Path, production: list[Fingerprint]) -> Store:
    """Staging, and production whose amount_z drifts; production's fingerprints in turn, 30 minutes apart."""
    store = Store(url)
    staging = _fingerprint(tmp_path / "staging", "1.5.3")
    now = datetime.now(UTC)
    for sequence, fp in enumerate(production):
        end = now - timedelta(minutes=20 + 30 * (len(production) - 1 - sequence))
        _push(store, "staging", sequence, staging, end, 0.0)
        _push(store, "production", sequence, fp, end, 0.8)
    return store


def _service(store: Store, lineage: dict[str, list[str]] | None = None) -> ParityService:
    fraud = {"pairs": [{"baseline": "staging", "target": "production"}], "lineage": lineage or {}}
    return ParityService(store, ParityConfig(ThresholdsFile.model_validate({"services": {"fraud": fraud}})))


def _incident(tmp_path: Path) -> list[Fingerprint]:
    """Production as in the seed incident: another pandas, a cache TTL, 3-year normalisation statistics."""
    return [_fingerprint(tmp_path / "production", "2.0.1", ttl=3600, statistics="3y")]


def test_declared_lineage_ranks_the_declared_cause_first(store_url: str, tmp_path: Path) -> None:
    store = _store(store_url, tmp_path, _incident(tmp_path))
    analysis = _service(store, LINEAGE).evaluate_pair("fraud", "staging", "production").probable_causes
    store.close()
    assert analysis is not None
    assert "data:amount_z" in analysis.symptoms
    top = analysis.causes[0]
    assert top.key == NORMALISATION and top.dimension == "artifacts"
    link = next(k for k in top.explains if k.symptom == "data:amount_z")
    assert link.weight == 4.0 and link.evidence[0] == f"declared: amount_z depends on {NORMALISATION}"
    # amount_z names what it depends on: the other differences may not claim it on structure alone
    assert all("data:amount_z" not in c.symptoms for c in analysis.causes[1:])
    assert analysis.unexplained == []


def test_time_alignment_alone_ranks_the_recent_change_first(store_url: str, tmp_path: Path) -> None:
    before = _fingerprint(tmp_path / "before", "2.0.1")
    after = _fingerprint(tmp_path / "after", "2.0.1", ttl=3600)  # deployed 20 minutes ago
    store = _store(store_url, tmp_path, [before, after])
    analysis = _service(store).evaluate_pair("fraud", "staging", "production").probable_causes
    store.close()
    assert analysis is not None
    assert [c.key for c in analysis.causes] == [TTL, PANDAS]  # pandas differs too, but always did
    ttl, pandas = analysis.causes
    assert ttl.score == pytest.approx(3.0) and pandas.score == pytest.approx(1.0)  # time 2 + structure 1; structure
    evidence = ttl.explains[0].evidence
    assert re.fullmatch(r"time: changed 2[01] min before amount_z first failed", evidence[0]), evidence


def test_without_lineage_or_changes_structure_and_dimension_order_decide(store_url: str, tmp_path: Path) -> None:
    store = _store(store_url, tmp_path, _incident(tmp_path))
    analysis = _service(store).evaluate_pair("fraud", "staging", "production").probable_causes
    store.close()
    assert analysis is not None
    assert [c.key for c in analysis.causes] == [NORMALISATION, TTL, PANDAS]  # artifacts, config, code
    assert {c.score for c in analysis.causes} == {1.0}
    assert all(k.evidence == (f"structure: a difference of {c.dimension} can change data",) for c in analysis.causes
               for k in c.explains)  # fmt: skip


def test_a_failing_streak_starts_at_its_first_stored_evaluation(store_url: str, tmp_path: Path) -> None:
    store = _store(store_url, tmp_path, _incident(tmp_path))
    service = _service(store, LINEAGE)
    (scheduled,) = service.evaluate_all()  # stored
    time.sleep(0.05)
    later = service.evaluate_pair("fraud", "staging", "production")
    store.close()
    assert scheduled.probable_causes is not None and later.probable_causes is not None
    began = scheduled.probable_causes.failing_since["data:amount_z"]
    assert began == scheduled.window_end
    assert later.probable_causes.failing_since["data:amount_z"] == began  # the streak goes on
    assert later.window_end is not None and later.window_end > began


@pytest.fixture
def evaluated(start_collector, tmp_path: Path):
    """A collector on the incident's store with the lineage in its policy file, after one scheduled cycle."""
    store_url = database_url(tmp_path / "store.duckdb")
    _store(store_url, tmp_path, _incident(tmp_path)).close()
    policy = tmp_path / "policy.yaml"
    fraud = {"pairs": [{"baseline": "staging", "target": "production"}], "lineage": LINEAGE}
    policy.write_text(yaml.safe_dump({"services": {"fraud": fraud}}))
    collector = start_collector(store_url, "--thresholds", str(policy), "--evaluate-every", "3600")
    deadline = time.monotonic() + 60
    while not httpx.get(f"{collector.url}/v1/parity/history", params=PAIR, timeout=30).json()["evaluations"]:
        assert time.monotonic() < deadline, "the scheduled cycle did not run:\n" + collector.log()
        time.sleep(0.5)
    return collector


def test_the_api_the_report_and_check_lead_with_the_causes(evaluated) -> None:
    url = evaluated.url
    answer = httpx.get(f"{url}/v1/parity", params=PAIR, timeout=30)
    assert answer.status_code == 200
    assert answer.text.index('"probable_causes"') < answer.text.index('"checks"')
    assert answer.json()["probable_causes"]["causes"][0]["key"] == NORMALISATION

    page = httpx.get(f"{url}/report", params=PAIR, timeout=30).text
    assert page.index('id="causes"') < page.index('id="attention"')
    assert re.search(rf'<tr class="cause"><td class="num">1</td><td>{NORMALISATION}: ', page)

    out = run_check(["--collector", url], "staging", "production", "--format", "markdown")
    assert out.returncode == 1, out.stderr
    assert out.stdout.index("#### Probable causes, most likely first") < out.stdout.index("| status |")
    assert re.search(rf"^\| 1 \| {NORMALISATION} \| artifacts \|", out.stdout, re.MULTILINE), out.stdout


def test_metrics_export_the_top_causes_of_the_scheduled_evaluation(evaluated) -> None:
    metrics = httpx.get(f"{evaluated.url}/metrics", timeout=30).text
    causes = re.findall(r"^envparity_probable_cause\{([^}]*)\} (\S+)$", metrics, re.MULTILINE)
    assert len(causes) == 1, causes  # only the declared cause explains the drift
    labels, score = causes[0]
    assert f'cause="{NORMALISATION}"' in labels and 'dimension="artifacts"' in labels and 'rank="1"' in labels
    assert 'service="fraud"' in labels and 'baseline="staging"' in labels and 'target="production"' in labels
    assert float(score) == 4.0  # declared (3) + structure (1) on data:amount_z, which fails


def test_a_pair_whose_streak_cannot_be_read_fails_alone(store_url: str, tmp_path: Path, monkeypatch) -> None:
    """The streaks are read for every pair before the fingerprint history: one unreadable streak (a corrupt stored
    evaluation, say) fails its own pair, not the service's other pairs."""
    import envparity.collector.service as service_module

    store = _store(store_url, tmp_path, _incident(tmp_path))
    real = service_module.failing_since

    def corrupt_for_one_pair(store: Store, service: str, baseline: str, target: str, until: datetime) -> dict:
        if baseline == "production":
            raise ValueError("stored evaluation body is not JSON")
        return real(store, service, baseline, target, until)

    monkeypatch.setattr(service_module, "failing_since", corrupt_for_one_pair)
    pairs = [{"baseline": "staging", "target": "production"}, {"baseline": "production", "target": "staging"}]
    config = ParityConfig(ThresholdsFile.model_validate({"services": {"fraud": {"pairs": pairs}}}))
    try:
        evaluated = ParityService(store, config).evaluate_all()
    finally:
        store.close()
    assert [(e.baseline, e.target) for e in evaluated] == [("staging", "production")]
