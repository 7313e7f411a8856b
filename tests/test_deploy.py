"""The Kubernetes examples in deploy/: valid YAML, envparity arguments the CLI accepts, ports that line up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO

from envparity.cli import build_parser

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def pod_specs(path: Path) -> list[dict[str, Any]]:
    return [
        d["spec"]["template"]["spec"]
        for d in documents(path)
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    ]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_envparity_containers_take_their_arguments(path: Path) -> None:
    containers = [c for spec in pod_specs(path) for c in spec["containers"] if c.get("command") == ["envparity"]]
    assert containers, f"{path.name} runs no envparity container"
    for container in containers:
        args = build_parser().parse_args(container["args"])  # exits (SystemExit) on an unknown option
        assert args.handler is not None
        named = {p["name"] for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            if probe in container:
                target = container[probe].get("httpGet") or container[probe].get("tcpSocket")
                assert target["port"] in named, f"{container['name']}: {probe} names an unknown port"


def test_sidecar_sits_between_the_service_and_the_model() -> None:
    path = REPO / "deploy" / "kubernetes" / "model-with-sidecar.yaml"
    service = next(d for d in documents(path) if d["kind"] == "Service")
    (spec,) = pod_specs(path)
    model = next(c for c in spec["containers"] if c["name"] == "model")
    sidecar = next(c for c in spec["containers"] if c["name"] == "envparity")
    args = build_parser().parse_args(sidecar["args"])
    assert args.upstream.endswith(f":{model['ports'][0]['containerPort']}")
    proxy_port = next(p for p in sidecar["ports"] if p["name"] == service["spec"]["ports"][0]["targetPort"])
    assert args.listen.endswith(f":{proxy_port['containerPort']}")
    assert spec["terminationGracePeriodSeconds"] > args.grace
