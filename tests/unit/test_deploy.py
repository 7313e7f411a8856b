"""The Kustomize overlays, rendered: every part present, envparity arguments the CLI accepts, ports that line
up, the environment and paging settings coming from the overlay, and agents allowed to reach the collector."""

from __future__ import annotations

import argparse
import re
from typing import Any

import pytest
from helpers import REPO
from kustomize_overlays import ENVIRONMENT, OVERLAYS, containers, documents, find, workloads

from envparity.cli import build_parser

pytestmark = pytest.mark.parametrize("overlay", OVERLAYS)


def pod(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def envparity_containers(overlay: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(w, c) for w in workloads(overlay) for c in containers(pod(w)) if c.get("command") == ["envparity"]]


def sidecar_deployment(overlay: str) -> dict[str, Any]:
    (deployment,) = [
        d for d in find(overlay, "Deployment") if any(c["name"] == "envparity-proxy" for c in pod(d)["containers"])
    ]
    return deployment


def collector_args(overlay: str) -> argparse.Namespace:
    (collector,) = find(overlay, "StatefulSet", "envparity-collector")
    return build_parser().parse_args(pod(collector)["containers"][0]["args"])


def mounted_from(workload: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume that ``path`` in ``container`` lies on."""
    (mount,) = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
    (volume,) = [v for v in pod(workload)["volumes"] if v["name"] == mount["name"]]
    return volume


def config(overlay: str, name: str, namespace: str) -> dict[str, str]:
    (found,) = [
        d
        for d in find(overlay, "ConfigMap")
        if d["metadata"]["name"].startswith(f"{name}-") and d["metadata"]["namespace"] == namespace
    ]
    return found["data"]


def test_every_part_is_there(overlay: str) -> None:
    assert find(overlay, "StatefulSet", "envparity-collector")[0]["spec"]["volumeClaimTemplates"]
    for kind in ("Service", "ServiceAccount", "NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor"):
        assert find(overlay, kind, "envparity-collector"), kind
    assert find(overlay, "DaemonSet", "envparity-gpu-agent")
    assert find(overlay, "PrometheusRule", "envparity-alerts")[0]["spec"]["groups"]
    assert sidecar_deployment(overlay)
    labelled = [c for c in find(overlay, "ConfigMap") if c["metadata"].get("labels", {}).get("grafana_dashboard")]
    dashboards = sorted(p.name for p in (REPO / "dashboards").glob("*.json"))
    assert sorted(key for d in labelled for key in d["data"]) == dashboards
    for account in find(overlay, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_envparity_containers_take_their_arguments(overlay: str) -> None:
    found = envparity_containers(overlay)
    assert {c["args"][0] + " " + c["args"][1] for _, c in found} == {"collector serve", "agent proxy", "agent run"}
    for _, container in found:
        args = build_parser().parse_args(container["args"])  # exits (SystemExit) on an unknown option
        assert args.handler is not None
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            target = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get("tcpSocket")
            if target:
                assert target["port"] in named, f"{container['name']}: {probe} names an unknown port"
        if "port" in args and args.port is not None:
            assert named["http"] == args.port


def test_sidecar_sits_between_the_service_and_the_model(overlay: str) -> None:
    deployment = sidecar_deployment(overlay)
    spec = pod(deployment)
    selected = deployment["spec"]["selector"]["matchLabels"].items()
    (service,) = [s for s in find(overlay, "Service") if s["spec"]["selector"].items() <= selected]
    model = next(c for c in spec["containers"] if c["name"] == "model")
    sidecar = next(c for c in spec["containers"] if c["name"] == "envparity-proxy")
    args = build_parser().parse_args(sidecar["args"])
    assert args.upstream == f"http://127.0.0.1:{model['ports'][0]['containerPort']}"
    proxy_port = next(p for p in sidecar["ports"] if p["name"] == service["spec"]["ports"][0]["targetPort"])
    assert args.listen == f"0.0.0.0:{proxy_port['containerPort']}"
    assert spec["terminationGracePeriodSeconds"] > args.grace
    env = {e["name"]: e for e in sidecar["env"]}
    assert {"POD_NAME", "POD_NAMESPACE", "NODE_NAME", "ENVPARITY_SERVICE", "ENVPARITY_TOKEN"} <= env.keys()
    spool = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == env["ENVPARITY_SPOOL_DIR"]["value"])
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == spool["name"])


def test_environment_and_paging_come_from_the_overlay(overlay: str) -> None:
    collector_service = find(overlay, "Service", "envparity-collector")[0]
    namespace = collector_service["metadata"]["namespace"]
    scheme = "https" if collector_args(overlay).tls_cert else "http"
    url = f"{scheme}://envparity-collector.{namespace}.svc:{collector_service['spec']['ports'][0]['port']}"
    agents = [(w, c) for w, c in envparity_containers(overlay) if c["args"][0] == "agent"]
    assert len(agents) == 2
    for workload, container in agents:
        assert "ENVPARITY_ENVIRONMENT" not in {e["name"] for e in container.get("env", [])}  # never hard-coded
        (source,) = container["envFrom"]
        settings = config(overlay, "envparity-environment", workload["metadata"]["namespace"])
        assert source["configMapRef"]["name"].startswith("envparity-environment-")
        assert settings == {"ENVPARITY_ENVIRONMENT": ENVIRONMENT[overlay], "ENVPARITY_COLLECTOR": url}
    paging = config(overlay, "envparity-collector", namespace)["ENVPARITY_PAGING_ENVIRONMENTS"]
    assert paging == ("production" if overlay == "prod" else "")
    # the alert rules agree: critical (paging) exactly where the target is a paging environment
    rules = str(find(overlay, "PrometheusRule", "envparity-alerts")[0]["spec"])
    (pattern,) = set(re.findall(r'target=~"([^"]+)"', rules))
    pages = re.fullmatch(pattern, ENVIRONMENT[overlay]) is not None
    assert pages == (ENVIRONMENT[overlay] in paging.split(","))


def test_only_agents_and_prometheus_reach_the_collector(overlay: str) -> None:
    (policy,) = find(overlay, "NetworkPolicy", "envparity-collector")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    allowed = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
    assert allowed == [{"envparity.io/agent": "true"}, {"app.kubernetes.io/name": "prometheus"}]
    for workload, container in envparity_containers(overlay):
        labelled = workload["spec"]["template"]["metadata"]["labels"].get("envparity.io/agent") == "true"
        assert labelled == (container["args"][0] == "agent"), workload["metadata"]["name"]


def test_prometheus_scrapes_the_job_the_alerts_name(overlay: str) -> None:
    (monitor,) = find(overlay, "ServiceMonitor", "envparity-collector")
    (service,) = find(overlay, "Service", "envparity-collector")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    rules = str(find(overlay, "PrometheusRule", "envparity-alerts")[0]["spec"])
    assert set(re.findall(r'job="([^"]+)"', rules)) == {service["metadata"]["name"]}  # the default job label


def test_gpu_agent_runs_on_gpu_nodes_with_a_node_spool(overlay: str) -> None:
    (daemonset,) = find(overlay, "DaemonSet", "envparity-gpu-agent")
    spec = pod(daemonset)
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    (agent,) = spec["containers"]
    args = build_parser().parse_args(agent["args"])
    spool = next(v for v in spec["volumes"] if "hostPath" in v)
    assert spool["hostPath"]["path"].startswith("/var/lib/envparity/") and str(args.spool) == spool["hostPath"]["path"]


def test_every_object_is_namespaced_into_a_declared_namespace(overlay: str) -> None:
    declared = {d["metadata"]["name"] for d in find(overlay, "Namespace")}
    used = {d["metadata"]["namespace"] for d in documents(overlay) if d["kind"] != "Namespace"}
    assert used == declared == {f"envparity-{overlay}", f"envparity-node-{overlay}"}


def test_prod_speaks_tls_and_agents_verify_the_collector(overlay: str) -> None:
    args = collector_args(overlay)
    if overlay != "prod":  # the TLS component is an option, used by the prod overlay
        assert args.tls_cert is None and args.tls_key is None
        return
    (collector,) = find(overlay, "StatefulSet", "envparity-collector")
    container = pod(collector)["containers"][0]
    for path in (str(args.tls_cert), str(args.tls_key)):
        assert mounted_from(collector, container, path)["secret"]["secretName"] == "envparity-collector-tls"
    assert {container[p]["httpGet"]["scheme"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {"HTTPS"}
    (monitor,) = find(overlay, "ServiceMonitor", "envparity-collector")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"]["configMap"] == {"name": "envparity-collector-ca", "key": "ca.crt"}
    agents = [(w, c) for w, c in envparity_containers(overlay) if c["args"][0] == "agent"]
    assert len(agents) == 2
    for workload, agent in agents:
        env = {e["name"]: e.get("value") for e in agent.get("env", [])}
        ca_file = build_parser().parse_args(agent["args"]).ca_file or env.get("ENVPARITY_CA_FILE")
        assert ca_file, f"{workload['metadata']['name']}: no --ca-file or ENVPARITY_CA_FILE"
        assert mounted_from(workload, agent, str(ca_file))["configMap"]["name"] == "envparity-collector-ca"
