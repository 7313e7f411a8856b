"""The Kustomize overlays of deploy/kustomize, rendered with `kubectl kustomize`, and the pods they define."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers import REPO

KUSTOMIZE = REPO / "deploy" / "kustomize"
OVERLAYS = ("dev", "staging", "prod")
ENVIRONMENT = {"dev": "dev", "staging": "staging", "prod": "production"}  # what each overlay's agents report as
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


@functools.cache
def render(overlay: str) -> str:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl (with Kustomize) is needed to render deploy/kustomize")
    return subprocess.run(
        ["kubectl", "kustomize", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def documents(overlay: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(overlay)) if d]


def find(overlay: str, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in documents(overlay) if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def workloads(overlay: str) -> Iterator[dict[str, Any]]:
    return (d for d in documents(overlay) if d["kind"] in WORKLOADS)


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a pod: init containers first."""
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]
