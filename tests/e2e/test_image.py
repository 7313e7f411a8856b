"""The container image, checked statically: the Dockerfile's stages, pinned installs, lean agent, non-root
final stages without build tools, and commands the CLI accepts.

The real build is not part of the suite: with its smoke checks it took eight minutes here (one of the two
base images already made) and 6.5 GB of layers. Build and smoke-check both images by hand (as root; the
script installs buildah and debootstrap):

    bash scripts/build-image.sh
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field

import pytest
from helpers import REPO
from packaging.requirements import Requirement

from envparity.cli import build_parser

DOCKERFILE = REPO / "Dockerfile"
FINAL = ("runtime", "agent", "collector")  # the stages that end up in an image
COLLECTOR_ONLY = {"duckdb", "scipy", "fastapi", "sqlalchemy", "pyarrow"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def stages() -> dict[str, Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found: dict[str, Stage] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, value = line.strip().partition(" ")
        if keyword == "FROM":
            base, _, name = value.partition(" AS ")
            current = found[name] = Stage(base, name)
        elif current:
            current.instructions.append((keyword, value))
    return found


def global_args() -> dict[str, str]:
    head = DOCKERFILE.read_text().split("\nFROM ", 1)[0]
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", head, flags=re.MULTILINE))


def test_bases_are_arguments_defaulting_to_a_public_python_image() -> None:
    args = global_args()
    assert re.fullmatch(r"python:3\.11-slim-\w+", args["BASE"]) and args["BUILDER_BASE"] == args["BASE"]
    assert {name: s.base for name, s in stages().items() if s.base.startswith("$")} == {
        "builder": "${BUILDER_BASE}",
        "runtime": "${BASE}",
    }


def test_installs_are_pinned_and_built_as_wheels_in_the_builder() -> None:
    runs = {name: " ".join(s.all("RUN")) for name, s in stages().items()}
    assert "pip wheel --wheel-dir /wheels -c constraints.txt" in runs["builder"]
    for venv in ("venv-collector", "venv-agent"):
        assert stages()[venv].base == "builder"
        assert "--no-index --find-links /wheels -c constraints.txt" in runs[venv]
        assert "pip uninstall -y pip setuptools" in runs[venv]


def test_the_agent_image_installs_no_collector_dependency() -> None:
    (install,) = re.findall(r'"envparity\[([^]]+)\]"', " ".join(stages()["venv-agent"].all("RUN")))
    assert set(install.split(",")) == {"agent", "proxy"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in ("agent", "proxy") for r in project["optional-dependencies"][extra]
    ]
    assert {Requirement(r).name for r in requirements}.isdisjoint(COLLECTOR_ONLY)
    assert {Requirement(r).name for r in project["optional-dependencies"]["collector"]} >= COLLECTOR_ONLY


@pytest.mark.parametrize("name", FINAL)
def test_final_stages_hold_no_build_tools(name: str) -> None:
    stage = stages()[name]
    for command in stage.all("RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", command), command
    assert all(re.match(r"--from=venv-(agent|collector) /opt/envparity ", c) for c in stage.all("COPY"))
    assert not stage.all("ADD")


@pytest.mark.parametrize("target", ["collector", "agent"])
def test_targets_run_envparity_as_a_fixed_non_root_user(target: str) -> None:
    stage, runtime = stages()[target], stages()["runtime"]
    assert stage.base == "runtime"
    assert "--uid 10001" in " ".join(runtime.all("RUN"))
    (user,) = stage.all("USER")
    assert user == "10001:10001"
    assert json.loads(runtime.all("ENTRYPOINT")[0]) == ["envparity"]
    (cmd,) = stage.all("CMD")
    args = build_parser().parse_args(json.loads(cmd))  # exits (SystemExit) on an unknown option
    assert (args.command, target) in {("collector", "collector"), ("agent", "agent")}


def test_collector_is_the_default_target() -> None:
    assert list(stages())[-1] == "collector"


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    kept = {line[1:] for line in ignore if line.startswith("!")}
    copied = {
        word for s in stages().values() for c in s.all("COPY") if "--from" not in c for word in shlex.split(c)[:-1]
    }
    assert copied == kept
    assert all((REPO / path).exists() for path in copied)


def test_build_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(REPO / "scripts" / "build-image.sh")], check=True, timeout=30)
