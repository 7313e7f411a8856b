"""Whole-number settings from ENVPARITY_* variables: a malformed one is one line and exit 2, never a traceback.

The command line reads these while it builds its parser, before any command runs;
``inf`` and ``nan`` used to end in an OverflowError or ValueError traceback there, and
``12.5`` was cut to 12 without a word.
"""

from __future__ import annotations

import pytest
from helpers import run_cli

from envparity.agent.environ import SettingsError, env_int


@pytest.mark.parametrize(("raw", "value"), [("", 7), ("1000", 1000), ("1e3", 1000), ("-2", -2)])
def test_whole_numbers(monkeypatch, raw, value):
    monkeypatch.setenv("ENVPARITY_TEST_INT", raw)
    assert env_int("ENVPARITY_TEST_INT", 7) == value


@pytest.mark.parametrize("raw", ["12.5", "inf", "-inf", "nan", "many"])
def test_anything_else_is_a_settings_error(monkeypatch, raw):
    monkeypatch.setenv("ENVPARITY_TEST_INT", raw)
    with pytest.raises(SettingsError, match=r"^ENVPARITY_TEST_INT="):
        env_int("ENVPARITY_TEST_INT", 7)


@pytest.mark.parametrize(
    ("variable", "raw", "why"),
    [
        ("ENVPARITY_MAX_SAMPLES", "inf", "is not a whole number"),
        ("ENVPARITY_INGEST_GROUP", "nan", "is not a whole number"),
        ("ENVPARITY_PORT", "8400.5", "is not a whole number"),
        ("ENVPARITY_SAMPLE_SIZE", "lots", "is not a number"),
    ],
)
def test_a_malformed_variable_is_one_line_and_exit_2(variable, raw, why):
    result = run_cli("collector", "serve", "--help", env={variable: raw})
    assert result.returncode == 2
    assert result.stderr.strip() == f"envparity: error: {variable}={raw!r} {why}"
