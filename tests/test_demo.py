"""The demo runs end to end (short) and names every difference it planted."""

from __future__ import annotations

import re

from helpers import run_cli


def test_demo_names_the_planted_differences(tmp_path):
    result = run_cli("demo", "--workdir", str(tmp_path / "demo"), "--seconds", "8", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    counts = re.findall(r"fraud\s+(production|staging)\s+1\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)", out)
    assert len(counts) == 2, out
    (_, prod_req, prod_err, _), (_, stage_req, stage_err, _) = counts
    assert prod_req == stage_req and int(prod_req) > 50  # the same traffic, counted exactly
    assert prod_err == stage_err and int(prod_err) >= 1  # the malformed requests, in both
    for planted in (
        "package:pandas",
        "feature_store.cache_ttl_s",
        "alias:model-latest",
        "artifact:normalisation",
    ):
        assert re.search(rf"fail\s+\w+\s+\w+\s+\S*{re.escape(planted)}", out), planted
    assert not list((tmp_path / "demo").glob("*/spool/pending/*.json.gz"))  # every window delivered
    report = out[out.index("parity fraud: staging -> production") :]
    assert report.startswith("parity fraud: staging -> production: FAIL")
    for layer, check, subject in (
        ("data", "wasserstein", "amount_z"),
        ("prediction", "feature_equality", "amount_z"),
        ("fingerprint.code", "package", "package:pandas"),
        ("fingerprint.config", "config_key", "feature_store.cache_ttl_s"),
        ("fingerprint.artifacts", "artifact_alias", "alias:model-latest"),
    ):
        assert re.search(rf"fail\s+{re.escape(layer)}\s+{check}\s+\S*{re.escape(subject)}", report), (layer, subject)
