"""Every documented error case of the command line: one line on stderr and the documented exit code.

Exit 1 means only "a check fails"; bad input and missing extras are 2, a bug is 5
(traceback only with ``--debug``). Every option of every command has help text.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, envparity_cmd

from envparity.cli import build_parser, main
from envparity.cli.exits import EXIT_BAD_INPUT, EXIT_INTERNAL

# Runs the CLI with the given top-level modules made unimportable, as in an install without their extra.
_WITHOUT = """
import sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from envparity.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(envparity_cmd(*args), capture_output=True, text=True, timeout=120, cwd=REPO)


def _without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _WITHOUT, modules, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


def _one_error_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, inner in action.choices.items():
                found += _options(inner, f"{path} {name}")
        elif action.dest != "help":
            found.append((path, action))
    return found


def test_every_option_of_every_command_has_help_text() -> None:
    missing = [
        f"{path} {a.option_strings or a.dest}" for path, a in _options(build_parser(), "envparity") if not a.help
    ]
    assert not missing, missing


def test_collector_serve_on_a_missing_folder(tmp_path: Path) -> None:
    result = _run("collector", "serve", "--db", str(tmp_path / "nonexistent-dir" / "x.duckdb"))
    _one_error_line(result, EXIT_BAD_INPUT, "nonexistent-dir", "does not exist")


def test_collector_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run("collector", "serve", "--db", str(tmp_path / "x.duckdb"), "--port", str(port))
    _one_error_line(result, EXIT_BAD_INPUT, f"port {port}", "in use")


@pytest.mark.parametrize(
    ("modules", "args", "extra"),
    [
        ("fastapi,duckdb", ["collector", "serve", "--db", "{tmp}/x.duckdb"], "collector"),
        ("numpy,duckdb,scipy", ["compare", "{tmp}/a.csv", "{tmp}/a.csv"], "collector"),
        ("grafanalib", ["dashboards", "build", "--out", "{tmp}/dash"], "collector"),
        (
            "sqlalchemy,duckdb",
            ["check", "--db", "{tmp}/x.duckdb", "--service", "s", "--baseline", "a", "--target", "b"],
            "collector",
        ),
    ],
)
def test_a_command_without_its_extra_names_the_extra(tmp_path: Path, modules: str, args: list[str], extra: str) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n2\n")
    (tmp_path / "x.duckdb").write_bytes(b"")
    result = _without(modules, *(a.format(tmp=tmp_path) for a in args))
    _one_error_line(result, EXIT_BAD_INPUT, f"envparity[{extra}]", "pip install")


def _crash(_: argparse.Namespace) -> int:
    raise RuntimeError("boom\nsecond line")


def _crashing_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    stack = [parser]
    while stack:
        current = stack.pop()
        current.set_defaults(handler=_crash)
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += action.choices.values()
    return parser


def test_an_internal_error_is_one_line_and_exit_5(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("envparity.cli.build_parser", _crashing_parser)
    assert main(["wire", "schema"]) == EXIT_INTERNAL
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["envparity: internal error: RuntimeError: boom second line (run with --debug for the traceback)"]
    assert main(["--debug", "wire", "schema"]) == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err
