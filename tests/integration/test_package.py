"""Packaging: the folders install under ``envparity.*`` and the agent extra stays lean."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from helpers import REPO, agent_run_args

LEAN_FORBIDDEN = ("duckdb", "scipy", "pandas", "fastapi", "sqlalchemy", "numpy", "uvicorn")


def test_no_bare_top_level_modules(tmp_path):
    probe = (
        "import importlib.util as u, envparity.agent, envparity.collector;"
        "print([m for m in ('agent', 'collector', 'dashboards', 'alerts') if u.find_spec(m)])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def lean_venv(tmp_path_factory) -> Path:
    """A fresh venv holding only ``envparity[agent]`` and its pinned dependencies."""
    root = tmp_path_factory.mktemp("lean")
    venv.create(root / "venv", with_pip=True)
    py = root / "venv" / "bin" / "python"
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(REPO / "constraints.txt"),
            f"{REPO}[agent]",
        ],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=root,
    )
    return root / "venv"


def test_agent_extra_is_lean_and_pushes(lean_venv, start_collector, tmp_path):
    py = str(lean_venv / "bin" / "python")
    probe = f"import importlib.util as u; print([m for m in {LEAN_FORBIDDEN!r} if u.find_spec(m)])"
    assert subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd=tmp_path).stdout.strip() == "[]"
    cli = str(lean_venv / "bin" / "envparity")
    assert subprocess.run([cli, "agent", "--help"], capture_output=True).returncode == 0
    collector = start_collector(f"duckdb:///{tmp_path / 'c.duckdb'}")
    pushed = subprocess.run(
        [cli, *agent_run_args(collector.url, tmp_path / "spool", "--once", environment="lean")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    assert pushed.returncode == 0, pushed.stderr
    fp_diff = subprocess.run(
        [cli, "fingerprint", "show", "--format", "table"], capture_output=True, text=True, cwd=tmp_path
    )
    assert fp_diff.returncode == 0 and "package:pydantic" in fp_diff.stdout
