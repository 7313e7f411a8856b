"""Each rendered overlay: valid for Kubernetes 1.30 (kubernetes-validate --strict), every pod admitted by
the Pod Security Standards level its namespace enforces, every container hardened, and the generated
monitoring manifests in step with alerts/ and dashboards/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO
from kustomize_overlays import OVERLAYS, containers, find, render, workloads

from envparity.monitoring.kubernetes import render as render_monitoring

# Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), checked as published.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {None, "container_t", "container_init_t", "container_kvm_t"}
# The one container allowed to run as root: it gives the GPU agent's hostPath spool to uid 10001, with
# CAP_CHOWN only, in the node agent's "privileged" namespace.
ROOT_INIT_CONTAINER = "spool-owner"


def baseline_violations(pod: dict[str, Any]) -> list[str]:
    found = [f"{key}: true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    found += [
        f"sysctl {s['name']}"
        for s in pod.get("securityContext", {}).get("sysctls", [])
        if s["name"] not in SAFE_SYSCTLS
    ]
    found += [f"volume {v['name']}: hostPath" for v in pod.get("volumes", []) if "hostPath" in v]
    contexts = [("pod", pod.get("securityContext", {}))]
    for c in containers(pod):
        context = c.get("securityContext", {})
        contexts.append((c["name"], context))
        if context.get("privileged"):
            found.append(f"{c['name']}: privileged")
        if set(context.get("capabilities", {}).get("add", [])) - BASELINE_CAPABILITIES:
            found.append(f"{c['name']}: capabilities beyond the baseline set")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{c['name']}: procMount")
        found += [f"{c['name']}: hostPort" for p in c.get("ports", []) if p.get("hostPort")]
    for name, context in contexts:
        if context.get("windowsOptions", {}).get("hostProcess"):
            found.append(f"{name}: hostProcess")
        if context.get("seccompProfile", {}).get("type") == "Unconfined":
            found.append(f"{name}: seccomp Unconfined")
        if context.get("appArmorProfile", {}).get("type") == "Unconfined":
            found.append(f"{name}: AppArmor Unconfined")
        selinux = context.get("seLinuxOptions", {})
        if selinux.get("type") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{name}: SELinux options")
    return found


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    found = baseline_violations(pod)
    allowed = RESTRICTED_VOLUMES | {"name", "hostPath"}  # hostPath: already refused by the baseline
    found += [f"volume {v['name']}: {kind}" for v in pod.get("volumes", []) for kind in v.keys() - allowed]
    pod_context = pod.get("securityContext", {})
    if pod_context.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    for c in containers(pod):
        context = c.get("securityContext", {})
        effective = {**pod_context, **context}
        if effective.get("runAsNonRoot") is not True:
            found.append(f"{c['name']}: runAsNonRoot not true")
        if context.get("runAsUser") == 0:
            found.append(f"{c['name']}: runAsUser 0")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{c['name']}: allowPrivilegeEscalation not false")
        if effective.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{c['name']}: seccomp neither RuntimeDefault nor Localhost")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{c['name']}: capabilities not dropping ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{c['name']}: capabilities added beyond NET_BIND_SERVICE")
    return found


LEVELS = {"privileged": lambda pod: [], "baseline": baseline_violations, "restricted": restricted_violations}


def enforced_level(overlay: str, namespace: str) -> str:
    (declared,) = find(overlay, "Namespace", namespace)
    return declared["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_for_kubernetes_1_30(overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render(overlay))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validate), "--strict", "-k", "1.30.0", str(rendered)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert len(warnings) == 2 and all("monitoring.coreos.com/v1" in line for line in warnings), warnings  # no schema


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_their_namespace_pod_security_level(overlay: str) -> None:
    levels = {}
    for workload in workloads(overlay):
        namespace = workload["metadata"]["namespace"]
        levels[workload["metadata"]["name"]] = level = enforced_level(overlay, namespace)
        assert LEVELS[level](workload["spec"]["template"]["spec"]) == [], workload["metadata"]["name"]
    assert levels == {
        "envparity-collector": "restricted",
        "fraud-model": "restricted",
        "envparity-gpu-agent": "privileged",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gpu_agent_needs_privileged_only_for_its_node_spool(overlay: str) -> None:
    (daemonset,) = find(overlay, "DaemonSet", "envparity-gpu-agent")
    assert sorted(restricted_violations(daemonset["spec"]["template"]["spec"])) == [
        f"{ROOT_INIT_CONTAINER}: capabilities added beyond NET_BIND_SERVICE",
        f"{ROOT_INIT_CONTAINER}: runAsNonRoot not true",
        f"{ROOT_INIT_CONTAINER}: runAsUser 0",
        "volume spool: hostPath",
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened(overlay: str) -> None:
    for workload in workloads(overlay):
        pod = workload["spec"]["template"]["spec"]
        writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v or "hostPath" in v}
        writable |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        for c in containers(pod):
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, c["name"]
            assert context["allowPrivilegeEscalation"] is False, c["name"]
            assert context["capabilities"]["drop"] == ["ALL"], c["name"]
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, c["name"]
            for bound in ("requests", "limits"):
                assert c["resources"][bound].keys() >= {"cpu", "memory"}, c["name"]
            if c["name"] == ROOT_INIT_CONTAINER:
                assert c in pod["initContainers"] and context["capabilities"]["add"] == ["CHOWN"]
                assert c["command"][0] == "chown"
                continue
            assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, c["name"]
            if c not in pod.get("initContainers", []):
                assert {"livenessProbe", "readinessProbe"} <= c.keys(), c["name"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts.get("/tmp") in writable, f"{c['name']}: no writable /tmp"


def test_generated_monitoring_manifests_are_up_to_date() -> None:
    for relative, text in render_monitoring(REPO).items():
        assert (REPO / relative).read_text() == text, f"{relative} is stale: run scripts/generate-manifests.py"


def test_dashboards_travel_unchanged_in_their_config_maps() -> None:
    for text in render_monitoring(REPO).values():
        for document in yaml.safe_load_all(text):
            for name, content in document.get("data", {}).items():
                assert content == (REPO / "dashboards" / name).read_text()


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (lambda pod, c: pod.update(hostNetwork=True), "hostNetwork: true"),
        (lambda pod, c: c["securityContext"].update(privileged=True), "collector: privileged"),
        (lambda pod, c: c["securityContext"].update(runAsNonRoot=False), "collector: runAsNonRoot not true"),
        (lambda pod, c: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda pod, c: c["securityContext"]["capabilities"].update(add=["NET_RAW"]), "beyond NET_BIND_SERVICE"),
        (lambda pod, c: c["securityContext"].update(seccompProfile={"type": "Unconfined"}), "seccomp Unconfined"),
        (lambda pod, c: pod["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}), "volume n: nfs"),
    ],
)
def test_the_restricted_checks_find_violations(change: Any, finding: str) -> None:
    (collector,) = find("dev", "StatefulSet", "envparity-collector")
    pod = collector["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    change(pod, pod["containers"][0])
    assert any(finding in line for line in restricted_violations(pod)), restricted_violations(pod)
