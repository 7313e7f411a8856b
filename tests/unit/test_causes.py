"""Probable causes: the ranking rule of ``collector/parity/causes.py`` recomputed by hand on small cases.

Three cases the rule must order: declared lineage, time alignment only, and neither
(structure alone); plus the chain data -> prediction -> outcome and an unexplained symptom.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from envparity.collector.parity.causes import rank_causes
from envparity.collector.parity.model import Check

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _check(layer: str, check: str, subject: str, status: str = "fail") -> Check:
    return Check(layer=layer, check=check, subject=subject, status=status, detail=f"{check} on {subject}")


PANDAS = _check("fingerprint.code", "package", "package:pandas")
TTL = _check("fingerprint.config", "config_key", "file:features.yaml:cache.ttl_s")
NORMALISATION = _check("fingerprint.artifacts", "artifact_hash", "artifact:normalisation")
AMOUNT = _check("data", "psi", "amount_z")
AMOUNT_KS = _check("data", "ks", "amount_z")
VELOCITY = _check("data", "psi", "txn_count_1h")
PREDICTION = _check("prediction", "psi", "prediction")
F1 = _check("outcome", "f1", "model")


def test_declared_lineage_ranks_its_cause_first() -> None:
    checks = [PANDAS, TTL, NORMALISATION, AMOUNT, AMOUNT_KS, PREDICTION, F1]
    analysis = rank_causes(checks, lineage={"amount_z": ["artifact:normalisation"]})
    ranked = [c.key for c in analysis.causes]
    assert ranked[0] == "artifact:normalisation"
    top = analysis.causes[0]
    # by hand: declared (3) + structure (1) = 4 on data:amount_z (fail, 1.0);
    # through it, prediction at 4 x 0.5 = 2 and outcome at 4 x 0.25 = 1: score 7.
    assert top.score == pytest.approx(7.0)
    assert set(top.symptoms) == {"data:amount_z", "prediction:prediction", "outcome:model"}
    # pandas and the TTL may not link to amount_z on structure alone (its lineage is declared),
    # but explain the prediction drift structurally (1 x 1.0) and the outcome through it (0.5): 1.5
    others = {c.key: c.score for c in analysis.causes[1:]}
    assert others == {"package:pandas": pytest.approx(1.5), "file:features.yaml:cache.ttl_s": pytest.approx(1.5)}
    assert analysis.unexplained == []


def test_time_alignment_alone_orders_the_causes() -> None:
    checks = [PANDAS, TTL, VELOCITY]
    changed = {"package:pandas": T - timedelta(days=3), "file:features.yaml:cache.ttl_s": T - timedelta(minutes=12)}
    analysis = rank_causes(checks, changed_at=changed, first_failed={"data:txn_count_1h": T})
    assert [c.key for c in analysis.causes] == ["file:features.yaml:cache.ttl_s", "package:pandas"]
    ttl, pandas = analysis.causes
    assert ttl.score == pytest.approx(3.0)  # time (2) + structure (1)
    assert pandas.score == pytest.approx(1.0)  # changed three days before: outside the 24 h horizon
    assert any("12 min before" in e for e in ttl.explains[0].evidence)


def test_a_change_after_the_symptom_began_is_no_time_evidence() -> None:
    analysis = rank_causes(
        [TTL, VELOCITY],
        changed_at={"file:features.yaml:cache.ttl_s": T + timedelta(minutes=5)},
        first_failed={"data:txn_count_1h": T},
    )
    assert analysis.causes[0].score == pytest.approx(1.0)


def test_without_lineage_or_time_structure_and_dimension_decide() -> None:
    analysis = rank_causes([PANDAS, TTL, NORMALISATION, AMOUNT])
    # every dimension explains data structurally (1 each): ties broken by dimension order
    assert [c.key for c in analysis.causes] == [
        "artifact:normalisation",
        "file:features.yaml:cache.ttl_s",
        "package:pandas",
    ]
    assert {c.score for c in analysis.causes} == {1.0}


def test_a_symptom_with_no_cause_is_unexplained_and_its_consequences_are_not() -> None:
    gpu = _check("fingerprint.compute", "gpu", "gpu0.name", status="warn")
    latency = _check("infrastructure", "latency_p99_ratio", "requests")
    analysis = rank_causes([gpu, AMOUNT, PREDICTION, latency])
    assert analysis.unexplained == ["data:amount_z"]  # compute cannot change input data
    (cause,) = analysis.causes
    assert cause.key == "gpu0.name"
    assert cause.score == pytest.approx(2.0)  # structure (1) on the latency and on the prediction, both failing


def test_warnings_count_half_and_passing_checks_are_no_symptoms() -> None:
    ok = _check("data", "psi", "country", status="ok")
    warn = _check("data", "psi", "amount_z", status="warn")
    analysis = rank_causes([NORMALISATION, ok, warn])
    assert analysis.causes[0].score == pytest.approx(0.5)
    assert analysis.causes[0].symptoms == ["data:amount_z"]


def test_a_feature_leads_to_the_model_outputs_and_to_itself_not_to_other_features() -> None:
    tz = _check("fingerprint.config", "env_var", "env:TZ")
    hour, hour_equal = _check("data", "psi", "hour"), _check("prediction", "feature_equality", "hour")
    amount_equal = _check("prediction", "feature_equality", "amount_z")  # differs per shadowed request
    lineage = {"hour": ["env:TZ"], "amount_z": ["artifact:normalisation"]}
    analysis = rank_causes([tz, hour, hour_equal, amount_equal, PREDICTION], lineage=lineage)
    (cause,) = analysis.causes
    assert cause.symptoms == ["data:hour", "prediction:hour", "prediction:prediction"]  # heaviest first
    # by hand: declared (3) + structure (1) on data:hour and on prediction:hour; the prediction through them 4 x 0.5
    assert cause.score == pytest.approx(10.0)
    assert analysis.unexplained == ["prediction:amount_z"]  # not downstream of the hour; its own cause is absent
