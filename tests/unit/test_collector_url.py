"""A collector URL that cannot be one is refused at startup: exit code 2 and one line, before anything is spooled."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli

AGENT = ["--service", "fraud", "--environment", "staging", "--env-prefix", "NONE_"]


def commands(spool: Path, data: Path) -> dict[str, list[str]]:
    return {
        "agent run": ["agent", "run", "--once", *AGENT, "--spool", str(spool)],
        "agent proxy": ["agent", "proxy", "--upstream", "http://127.0.0.1:9", *AGENT, "--spool", str(spool)],
        "check": ["check", "--service", "fraud", "--baseline", "production", "--target", "staging"],
        "reference upload": ["reference", "upload", str(data), "--service", "fraud", "--name", "train"],
    }


@pytest.mark.parametrize("command", ["agent run", "agent proxy", "check", "reference upload"])
@pytest.mark.parametrize("url", ["htp:/bad", "http://", "127.0.0.1:8400", "http://collector:port"])
def test_bad_collector_url_is_bad_input(command: str, url: str, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("amount\n1\n2\n")
    result = run_cli(*commands(tmp_path / "spool", data)[command], "--collector", url)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and repr(url) in result.stderr, result.stderr
    assert not (tmp_path / "spool").exists()  # refused before anything was spooled


def test_bad_collector_url_from_the_environment(tmp_path: Path) -> None:
    result = run_cli(
        "agent", "run", "--once", *AGENT, "--spool", str(tmp_path), env={"ENVPARITY_COLLECTOR": "htp:/bad"}
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "'htp:/bad'" in result.stderr


@pytest.mark.parametrize("option", ["--upstream", "--shadow"])
def test_bad_proxy_urls_are_bad_input(option: str, tmp_path: Path) -> None:
    urls = {"--upstream": "http://127.0.0.1:9", "--shadow": "http://127.0.0.1:9", option: "ftp://model"}
    args = [arg for name, url in urls.items() for arg in (name, url)]
    result = run_cli("agent", "proxy", *args, *AGENT, "--spool", str(tmp_path / "spool"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and option in result.stderr, result.stderr
