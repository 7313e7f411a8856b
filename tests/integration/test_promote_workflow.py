"""The example promotion workflow (deploy/workflows/promote.yml): valid GitHub Actions syntax, envparity
command lines the CLI accepts, and production changed only after the parity gate exited 0."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from helpers import REPO

from envparity.cli import build_parser

WORKFLOW = REPO / "deploy" / "workflows" / "promote.yml"


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)


def steps() -> list[dict[str, Any]]:
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    return job["steps"]


def words(line: str) -> list[str]:
    """A shell command's words, up to its first redirection or operator."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found = list(lexer)
    return found[: next((i for i, word in enumerate(found) if set(word) <= set("();<>|&")), len(found))]


def envparity_commands() -> list[list[str]]:
    lines = [line.strip() for step in steps() for line in step.get("run", "").splitlines()]
    return [words(line)[1:] for line in lines if line.startswith("envparity ")]


def test_the_workflow_is_valid_github_actions_syntax(tmp_path: Path) -> None:
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("    steps:", "    stepz:"))
    assert check_jsonschema(broken).returncode == 1  # the schema does reject a misspelt key


def test_the_gate_is_envparity_check_staging_against_production_in_markdown() -> None:
    (command,) = envparity_commands()
    args = build_parser().parse_args(command)  # exits (SystemExit) on an unknown option
    assert (args.command, args.baseline, args.target, args.format) == ("check", "production", "staging", "markdown")
    assert args.collector


def test_production_changes_only_after_the_gate_passed() -> None:
    gate = next(i for i, step in enumerate(steps()) if step.get("id") == "gate")
    gate_script = steps()[gate]["run"]
    assert 'exit "$status"' in gate_script and '>> "$GITHUB_STEP_SUMMARY"' in gate_script
    assert "continue-on-error" not in steps()[gate]
    applies = [i for i, step in enumerate(steps()) if words(step.get("run", ""))[:3] == ["kubectl", "apply", "-f"]]
    assert len(applies) == 1 and applies[0] > gate
    assert steps()[applies[0]]["if"] == "steps.gate.outputs.status == '0'"


def test_the_prod_overlay_is_what_is_rendered_and_applied() -> None:
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    assert (REPO / job["env"]["OVERLAY"] / "kustomization.yaml").exists() and job["env"]["OVERLAY"].endswith("/prod")
    render = next(step["run"] for step in steps() if "kubectl kustomize" in step.get("run", ""))
    assert 'kubectl kustomize "$OVERLAY" > rendered/prod.yaml' in render
