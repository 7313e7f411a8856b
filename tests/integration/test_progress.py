"""Long commands show progress on a terminal and nothing where output is not one (``reference upload``)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import envparity_cmd, run_cli

ROWS = 12_000  # three snapshots of 5000 rows


@pytest.fixture
def collector(start_collector, tmp_path: Path) -> Any:
    return start_collector(f"duckdb:///{tmp_path / 'store.duckdb'}")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("amount,merchant\n" + "".join(f"{i % 97},m{i % 5}\n" for i in range(ROWS)))
    return path


def upload(collector: Any, dataset: Path, name: str) -> list[str]:
    return ["reference", "upload", str(dataset), "--collector", collector.url, "--service", "fraud", "--name", name]


def test_no_progress_bar_when_output_is_not_a_terminal(collector, dataset: Path) -> None:
    result = run_cli(*upload(collector, dataset, "piped"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"uploaded {ROWS} rows of {dataset} as fraud/ref.piped\n"
    assert result.stderr == "" and "\r" not in result.stdout


def test_progress_bar_on_a_terminal(collector, dataset: Path, tmp_path: Path) -> None:
    """``script`` runs the command on a pseudo-terminal (sized: a new one has no columns) and copies what it drew."""
    command = "stty cols 100 rows 30; " + shlex.join(envparity_cmd(*upload(collector, dataset, "terminal")))
    result = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, timeout=120)
    drawn = result.stdout.decode(errors="replace")  # bytes: text mode would turn the bar's \r into newlines
    assert result.returncode == 0, drawn
    assert f"uploading {dataset.name}:" in drawn and "rows" in drawn and "\r" in drawn, drawn
    assert drawn.rstrip().endswith(f"uploaded {ROWS} rows of {dataset} as fraud/ref.terminal")
