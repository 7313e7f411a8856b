"""Wire format v1: the committed schema is current, versions are checked, models round-trip."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

import pytest
from helpers import REPO, envparity_cmd, make_snapshot, run_cli
from pydantic import ValidationError

from envparity.agent.wire import WIRE_VERSION, Snapshot, check_wire_version, json_schema


def test_committed_schema_is_current():
    committed = json.loads((REPO / "agent" / "wire_schema_v1.json").read_text())
    assert committed == json_schema(), "run: envparity wire schema > agent/wire_schema_v1.json"


def test_cli_prints_the_schema():
    result = run_cli("wire", "schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"].endswith(WIRE_VERSION)


def test_output_cut_short_by_its_reader_is_not_an_error():
    """``envparity wire schema | head -c 10``: the pipe closes early; no error, no traceback."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # the schema (about 20 KB) cannot sit in the pipe
    with subprocess.Popen(envparity_cmd("wire", "schema"), stdout=write_end, stderr=subprocess.PIPE) as writer:
        os.close(write_end)
        assert os.read(read_end, 10)
        os.close(read_end)  # the reader goes away: the writer's next write fails
        assert writer.wait(timeout=60) == 0
        assert writer.stderr is not None and writer.stderr.read() == b""


def test_snapshot_round_trips():
    snap = make_snapshot()
    again = Snapshot.model_validate_json(snap.model_dump_json())
    assert again == snap
    assert again.fingerprint.hash == snap.fingerprint.hash


@pytest.mark.parametrize("version", ["1.0", "1.7"])
def test_minor_versions_are_accepted(version):
    check_wire_version(version)


@pytest.mark.parametrize("version", ["2.0", "0.9", "one", "1"])
def test_other_versions_are_refused_with_a_sentence(version):
    data = json.loads(make_snapshot().model_dump_json())
    data["header"]["wire_version"] = version
    with pytest.raises(ValidationError, match="wire"):
        Snapshot.model_validate(data)


def test_newer_minor_fields_are_ignored_and_hash_still_checks():
    data = json.loads(make_snapshot().model_dump_json())
    data["header"]["wire_version"] = "1.3"
    data["header"]["future_field"] = 1
    Snapshot.model_validate(data)
    data["fingerprint"]["code"]["future"] = "x"  # content changed: hash no longer matches
    with pytest.raises(ValidationError, match="does not match"):
        Snapshot.model_validate(data)
