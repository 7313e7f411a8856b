"""The demo runs end to end (short) and tells the incident: every planted difference, the F1 gap, the causes."""

from __future__ import annotations

import re

from helpers import run_cli


def test_demo_tells_the_incident(tmp_path):
    result = run_cli("demo", "--workdir", str(tmp_path / "demo"), "--seconds", "8", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    counts = re.findall(r"fraud\s+(production|staging)\s+1\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)", out)
    assert len(counts) == 2, out
    (_, prod_req, prod_err, _), (_, stage_req, stage_err, _) = counts
    assert prod_req == stage_req and int(prod_req) > 50  # every request mirrored to staging, counted exactly
    assert prod_err == stage_err and int(prod_err) >= 1  # the declined probes, rejected in both
    for planted in ("package:pandas", "feature_store.cache_ttl_s", "artifact:normalisation", "env:TZ"):
        assert re.search(rf"fail\s+\w+\s+\w+\s+\S*{re.escape(planted)}", out), planted
    assert "alias:model-latest" not in out  # both serve the same model artifact
    assert not list((tmp_path / "demo").glob("*/spool/pending/*.json.gz"))  # every window delivered

    title = re.search(r"^parity fraud: staging -> production: FAIL", out, re.MULTILINE)
    assert title, out
    report = out[title.start() :]
    assert " 0 insufficient_data" in report  # features are recorded for every scored request, on both sides
    for layer, check, subject in (
        ("data", "psi", "account_age_days_z"),  # the normalisation statistics
        ("prediction", "feature_equality", "amount_z"),  # them too, request by request
        ("data", "psi", "txn_count_1h"),  # the pandas behaviour and the stale cache
        ("prediction", "feature_equality", "hour"),  # local time instead of UTC, caught per mirrored request
        ("outcome", "f1", "model"),
        ("fingerprint.config", "env_var", "env:TZ"),
    ):
        assert re.search(rf"fail\s+{re.escape(layer)}\s+{check}\s+{re.escape(subject)}\s", report), (layer, subject)

    story = report[report.index("Labels arrived late") :]
    f1 = re.search(r"f1 staging (0\.\d+), production (0\.\d+)", story)
    assert f1, story
    staging, production = map(float, f1.groups())
    assert staging > 0.8 and staging - production > 0.05, (staging, production)
    assert "the outcome layer fails" in story
    causes = story[story.index("Probable causes, most likely first:") :]
    ranked = re.findall(r"^\s+\d+\. (\S+?):? .*\[\w+, score ([\d.]+)\]$", causes, re.MULTILINE)
    keys, scores = [key for key, _ in ranked], [float(score) for _, score in ranked]
    assert keys[:1] == ["artifact:normalisation"], causes  # the largest cause first
    assert {"package:pandas", "env:TZ", "file:serving.json:feature_store.cache_ttl_s"} <= set(keys), causes
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    assert re.search(r"explains .*data:amount_z", causes) and re.search(r"explains .*prediction:hour", causes)
    assert causes.rstrip().endswith(".")  # the demo ends with the causes (and the unexplained, if any)
