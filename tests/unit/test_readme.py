"""The README and docs/ stay true: the README's size, links that resolve, examples that run, commands that parse.

Conventions the README and docs/ follow, checked here:

* A fenced ``bash``, ``sh`` or ``python`` block of the README runs as it is, in a
  temporary directory, with ``.venv/bin`` on ``PATH`` and an agent configured by
  ``ENVPARITY_*`` variables whose collector is a closed port. A block that starts
  a server, needs the network or takes minutes is preceded by the comment
  ``<!-- not run: REASON -->``; it is only parsed (its ``envparity`` lines must
  parse, the ``scripts/`` it names must exist and be executable).
* Every line of a fenced block in the README or docs/ (runbooks.md aside) that
  starts with ``envparity `` parses with the real parser (``envparity.cli.build_parser``),
  up to the first shell operator (``>``, ``|``, ``&&``, ...). Words in capitals
  (``URL``, ``PATH``) are placeholders and parse as the strings they are.
* An inline ``envparity ...`` span in running text names a real command path, and
  every ``--option`` in it exists for that command (with a valid choice when one
  follows); ``...`` stands for the required options left out.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from envparity.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
# runbooks.md is the alert rules' page (tests of the monitoring check it); its commands are not reference.
REFERENCE_DOCS = [p for p in DOCS if p.name != "runbooks.md"]
README_LIMIT = 12_000
SETUP_COMMANDS = ("bash scripts/demo.sh", "bash scripts/test.sh")
RUNNABLE = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python"}

FENCE = re.compile(r"^\s*```\s*([\w+-]*)")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*\S.*-->\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"(?<!\\)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "<<", "2>", "2>&1", "&>"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    not_run: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def split_markdown(path: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced blocks of a Markdown file, and its other lines (numbered)."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        start, lang = i, match.group(1).lower()
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{path.relative_to(REPO)}:{start + 1}: unclosed code block"
        i += 1
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", bool(NOT_RUN.match(before.strip()))))
    return blocks, prose


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*~]|<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    _, prose = split_markdown(path)
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose:
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def without_inline_code(line: str) -> str:
    return INLINE_CODE.sub("", line)


# --- (a) size ------------------------------------------------------------------------


def test_readme_is_short() -> None:
    size = len(README.read_text())
    assert size < README_LIMIT, f"README.md has {size} characters; the limit is {README_LIMIT}: move detail to docs/"


# --- (b) links -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(path: Path) -> None:
    _, prose = split_markdown(path)
    text = "\n".join(without_inline_code(line) for _, line in prose)
    targets = LINK.findall(text) + REF_LINK.findall(text)
    problems = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(REPO):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading with the anchor #{anchor} in {resolved.relative_to(REPO)}")
    assert not problems, f"{path.relative_to(REPO)}: " + "; ".join(problems)


def test_docs_are_linked_from_the_readme() -> None:
    readme = README.read_text()
    unlinked = [p.name for p in DOCS if f"(docs/{p.name})" not in readme]
    assert not unlinked, f"README.md links no page {unlinked}"


# --- (c) the README's examples --------------------------------------------------------------


README_BLOCKS, _ = split_markdown(README)
RUN_BLOCKS = [b for b in README_BLOCKS if b.lang in RUNNABLE and not b.not_run]


def test_the_setup_commands_name_executable_scripts() -> None:
    """The two commands of a fresh machine are shown verbatim; they are too long to run here, so their scripts are
    checked instead (running scripts/test.sh from a test would run the suite inside itself)."""
    lines = {line.split("#")[0].strip() for b in README_BLOCKS for line in b.code.splitlines()}
    for command in SETUP_COMMANDS:
        assert command in lines, f"README.md lost the command {command!r}"
    for block in README_BLOCKS:
        for line in block.code.splitlines():
            for word in shlex.split(line, comments=True):
                if word.startswith("scripts/"):
                    script = REPO / word
                    assert script.is_file(), f"{block.where}: {word} does not exist"
                    assert os.access(script, os.X_OK), f"{block.where}: {word} is not executable"
                    assert script.read_text().startswith("#!/usr/bin/env bash"), f"{word}: not a bash script"


def test_every_shell_and_python_block_runs_or_says_why_not() -> None:
    assert any(b.lang == "python" for b in RUN_BLOCKS) and any(RUNNABLE[b.lang] == "bash" for b in RUN_BLOCKS)
    for block in README_BLOCKS:
        assert block.lang, f"{block.where}: a code block without a language"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=lambda b: f"{b.lang}-line{b.line}")
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ENVPARITY_SERVICE": "readme",
        "ENVPARITY_ENVIRONMENT": "test",
        "ENVPARITY_COLLECTOR": f"http://127.0.0.1:{_closed_port()}",  # nothing listens: snapshots stay spooled
        "ENVPARITY_SPOOL_DIR": str(tmp_path / "spool"),
        "ENVPARITY_LOG_LEVEL": "WARNING",
    }
    if RUNNABLE[block.lang] == "python":
        script = tmp_path / "block.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{block.where} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"


# --- (d) every command shown parses ------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_parser(words: list[str]) -> tuple[list[str], argparse.ArgumentParser]:
    """The longest command path at the start of ``words`` (after ``envparity``) and its parser."""
    parser, path = build_parser(), []
    for word in words:
        inner = _subcommands(parser)
        if word not in inner:
            break
        parser = inner[word]
        path.append(word)
    return path, parser


def leaf_commands() -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        inner = _subcommands(parser)
        if not inner:
            found[" ".join(path)] = parser
        for name, sub in inner.items():
            walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


def shell_words(line: str) -> list[str]:
    """The words of a command line up to its first shell operator (redirection, pipe, list)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    for word in lexer:
        if word in SHELL_OPERATORS or word.startswith((">", "|", "&", ";")):
            break
        words.append(word)
    return words


def block_commands(paths: list[Path]) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        blocks, _ = split_markdown(path)
        for block in blocks:
            logical = block.code.replace("\\\n", " ")
            for offset, line in enumerate(logical.splitlines()):
                line = line.strip().removeprefix("$ ")
                if line.startswith("envparity "):
                    found.append((f"{block.where}+{offset + 1}", line))
    return found


def inline_commands(paths: list[Path]) -> list[tuple[str, str]]:
    found = []
    for path in paths:
        _, prose = split_markdown(path)
        for number, line in prose:
            for match in INLINE_CODE.finditer(line):
                span = match.group(2).strip()
                if span.startswith("envparity "):
                    found.append((f"{path.relative_to(REPO)}:{number}", span))
    return found


COMMAND_DOCS = [README, *REFERENCE_DOCS]
BLOCK_COMMANDS = block_commands(COMMAND_DOCS)
INLINE_COMMANDS = inline_commands(COMMAND_DOCS)


def test_the_docs_show_commands() -> None:
    cli_md = REPO / "docs" / "cli.md"
    shown = {" ".join(command_parser(shell_words(line)[1:])[0]) for _, line in block_commands([cli_md])}
    missing = sorted(set(leaf_commands()) - shown)
    assert not missing, f"docs/cli.md shows no example of: {missing}"


@pytest.mark.parametrize(("where", "line"), BLOCK_COMMANDS, ids=[w for w, _ in BLOCK_COMMANDS])
def test_command_line_parses(where: str, line: str) -> None:
    words = shell_words(line)
    assert words[0] == "envparity"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = build_parser().parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"{where}: `{line}` does not parse (exit {exc.code}): {err.getvalue().strip()}")
    assert callable(getattr(args, "handler", None)), f"{where}: `{line}` names no command"


@pytest.mark.parametrize(("where", "span"), INLINE_COMMANDS, ids=[w for w, _ in INLINE_COMMANDS])
def test_inline_command_names_real_options(where: str, span: str) -> None:
    words = [w.strip("[]") for w in shell_words(span)[1:]]
    path, parser = command_parser(words)
    assert path or (words and words[0].startswith("-")) or words[:1] == ["COMMAND"], (
        f"{where}: `{span}` names no command"
    )
    rest = words[len(path) :]
    options = parser._option_string_actions
    for i, word in enumerate(rest):
        if not word.startswith("--"):
            assert (
                word == "..." or (i > 0 and rest[i - 1].startswith("--")) or word.isupper() or word.startswith("$")
            ), f"{where}: `{span}`: {word!r} is neither a subcommand of {' '.join(path)} nor an option's value"
            continue
        name = word.split("=", 1)[0]
        assert name in options, f"{where}: `{span}`: envparity {' '.join(path)} has no option {name}"
        choices = options[name].choices
        value = word.split("=", 1)[1] if "=" in word else rest[i + 1] if i + 1 < len(rest) else None
        if choices and value is not None and not value.startswith("-") and value != "...":
            assert value in choices, f"{where}: `{span}`: {name} takes one of {list(choices)}, not {value!r}"


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for option in parser._option_string_actions if option.startswith("--")} - {"--help"}


def _documented_options(text: str) -> set[str]:
    return set(re.findall(r"`(--[a-z][a-z0-9-]*)", text))


def cli_sections() -> dict[str, str]:
    """docs/cli.md by second-level heading: ``envparity X Y`` sections under their command, others by title."""
    text = (REPO / "docs" / "cli.md").read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    sections = {"": parts[0]}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[title.strip().strip("`").removeprefix("envparity ").strip()] = body
    return sections


def test_cli_reference_documents_each_command_s_options() -> None:
    """Each command's section of docs/cli.md names every option the command has, and none it lacks
    (the shared fingerprint sources have a section of their own; the proxy takes the agent's options)."""
    sections = cli_sections()
    problems = []
    for command, parser in leaf_commands().items():
        assert command in sections, f"docs/cli.md has no section `envparity {command}`"
        documented = _documented_options(sections[command])
        real = _options(parser)
        inherited = set()
        if "--packages-from" in real:
            inherited |= _documented_options(sections["Fingerprint sources"])
        if command == "agent proxy":
            run_only = {"--once", "--log-file", "--log-format", "--log-fields"}  # the proxy section names them
            inherited |= _documented_options(sections["agent run"]) - run_only
            documented -= run_only
        if real - documented - inherited:
            problems.append(f"`envparity {command}` lacks {sorted(real - documented - inherited)}")
        if documented - real:
            problems.append(f"`envparity {command}` documents options it does not have: {sorted(documented - real)}")
    root = _options(build_parser())
    if root - _documented_options(sections[""]):
        problems.append(f"the options of envparity itself lack {sorted(root - _documented_options(sections['']))}")
    assert not problems, "docs/cli.md: " + "; ".join(problems)


# --- the reference names what the code defines -------------------------------------------


def test_statistics_name_every_check() -> None:
    from envparity.collector.parity.check_specs import CHECKS

    text = (REPO / "docs" / "statistics.md").read_text()
    missing = [c.name for c in CHECKS if f"`{c.name}`" not in text]
    assert not missing, f"docs/statistics.md does not describe the checks {missing}"


def test_monitoring_names_every_metric() -> None:
    from envparity.agent.catalogue import METRICS

    text = (REPO / "docs" / "monitoring.md").read_text()
    missing = [m.name for m in METRICS if f"`{m.name}`" not in text]
    assert not missing, f"docs/monitoring.md does not list the metrics {missing}"


def test_configuration_lists_every_threshold_with_its_default() -> None:
    from envparity.collector.parity.model import Thresholds

    text = (REPO / "docs" / "configuration.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `?([^|`]+?)`? \|", text, re.MULTILINE))
    for name, field in Thresholds.model_fields.items():
        assert name in rows, f"docs/configuration.md lacks the threshold {name}"
        default = field.default
        documented = rows[name].strip()
        if isinstance(default, str):
            assert documented == default, f"{name}: documented {documented}, default {default}"
        else:
            assert float(documented) == float(default), f"{name}: documented {documented}, default {default}"


def test_wire_format_example_is_a_valid_snapshot() -> None:
    from envparity.agent.wire import Snapshot

    blocks, _ = split_markdown(REPO / "docs" / "wire-format.md")
    examples = [b for b in blocks if b.lang == "json"]
    assert examples, "docs/wire-format.md shows no snapshot"
    for block in examples:
        Snapshot.model_validate_json(block.code)


def test_exit_codes_are_documented() -> None:
    from envparity.cli import exits

    codes = {value for name, value in vars(exits).items() if name.startswith("EXIT_")}
    for path in (README, REPO / "docs" / "cli.md"):
        rows = {int(code) for code in re.findall(r"^\| (\d+) \|", path.read_text(), re.MULTILINE)}
        assert rows == codes, f"{path.relative_to(REPO)} lists exit codes {sorted(rows)}; exits.py has {sorted(codes)}"


def test_configuration_lists_every_environment_variable() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    sources = [p for folder in ("agent", "collector", "envparity") for p in (REPO / folder).rglob("*.py")]
    used = {name for p in sources for name in re.findall(r"\bENVPARITY_[A-Z0-9_]*[A-Z0-9]\b", p.read_text())}
    missing = sorted(name for name in used if f"`{name}`" not in text)
    assert not missing, f"docs/configuration.md does not list {missing}"


def test_configuration_lists_the_default_environment_prefixes() -> None:
    from envparity.agent.fingerprint.config import DEFAULT_ENV_PREFIXES

    text = (REPO / "docs" / "configuration.md").read_text()
    missing = [prefix for prefix in DEFAULT_ENV_PREFIXES if f"`{prefix}`" not in text]
    assert not missing, f"docs/configuration.md does not list the default --env-prefix prefixes {missing}"
