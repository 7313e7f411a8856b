"""``envparity demo``: a collector on a DuckDB file, two model servers that differ, and traffic.

Everything runs as real processes on loopback: the collector (with a policy file
declaring what each feature depends on), a staging and a production model server
(each with an in-process agent; production mirrors every request to staging), and
a traffic generator sending transactions to production and their labels, late, to
both. At the end the demo prints what the collector knows, the differences it
found, and the incident in short: the F1 of each environment and the probable
causes, most likely first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from envparity.collector.report.tables import text_table
from envparity.demo.environments import DemoEnvironment, prepare, write_policy
from envparity.demo.processes import ProcessGroup, envparity_command, process_group
from envparity.demo.story import print_incident
from envparity.demo.traffic import send_traffic
from envparity.localservers import free_port, wait_for_http

PAIR = {"service": "fraud", "baseline": "staging", "target": "production"}  # the pair the incident is told of


def _print_environments(url: str) -> None:
    envs = httpx.get(f"{url}/v1/environments", timeout=10).json()["environments"]
    rows = [
        {
            "service": e["service"],
            "environment": e["environment"],
            "agents": len(e["agents"]),
            "snapshots": e["snapshots"],
            "requests": e["requests"],
            "errors": e["errors"],
            "samples": e["samples"],
            "fingerprint": (e["fingerprint_hash"] or "")[:12],
        }
        for e in envs
    ]
    print(
        text_table(
            rows,
            ("service", "environment", "agents", "snapshots", "requests", "errors", "samples", "fingerprint"),
        )
    )


def _print_fingerprint_diff(url: str) -> None:
    from envparity.cli.fingerprint import render_diff
    from envparity.collector.parity.fingerprint_diff import DiffItem

    diff = httpx.get(
        f"{url}/v1/fingerprints/diff",
        timeout=10,
        params=PAIR,
    ).json()
    items = [DiffItem(**i) for i in diff["items"]]
    print(render_diff(items, "table", "fingerprint parity fraud: staging -> production"))


def _print_parity(url: str) -> None:
    from envparity.collector.parity.record import EvaluationRecord
    from envparity.collector.report.text import render_evaluation

    answer = httpx.get(
        f"{url}/v1/parity",
        timeout=120,
        params={**PAIR, "fresh": "true", "window": "1h"},
    ).json()
    evaluation = EvaluationRecord.model_validate(answer)
    print(render_evaluation(evaluation.model_copy(update={"probable_causes": None}), "table"))  # they come last
    print()
    print_incident(evaluation)


def _start_model_servers(
    group: ProcessGroup,
    envs: dict[str, DemoEnvironment],
    collector: str,
    window_s: float,
    env: dict[str, str],
) -> dict[str, tuple[str, subprocess.Popen[bytes]]]:
    """Staging, and production mirroring every request to it; each in its hosts' time zone."""
    urls = {name: f"http://127.0.0.1:{free_port()}" for name in envs}
    servers = {}
    for name, demo_env in envs.items():
        command = [sys.executable, "-m", "envparity.demo.model_server", "--environment", name]
        command += ["--root", str(demo_env.root), "--port", urls[name].rsplit(":", 1)[1]]
        command += ["--collector", collector, "--window", str(window_s)]
        if name == "production":
            command += ["--shadow", urls["staging"]]
        proc = group.start(f"model-{name}", command, env={**env, "TZ": demo_env.timezone})
        servers[name] = (urls[name], proc)
    for name, (url, proc) in servers.items():
        wait_for_http(f"{url}/health", proc=proc, timeout_s=120)
        print(f"model server {name}: {url}")
    return servers


def _stop(workdir: Path, servers: dict[str, tuple[str, subprocess.Popen[bytes]]]) -> bool:
    """Production first (its mirrored copies reach staging), then staging; each agent flushes its last window."""
    for name in ("production", "staging"):
        proc = servers[name][1]
        proc.terminate()
        # uvicorn re-raises SIGTERM after its graceful shutdown (lifespan closes the agent)
        if proc.wait(timeout=60) not in (0, -signal.SIGTERM):
            print(f"model server {name} exited with {proc.returncode}; see {workdir}/model-{name}.log")
            return False
    return True


def run_demo(workdir: Path, seconds: float = 45.0, serve: bool = False) -> int:
    """Run the demo end to end; returns the process exit code."""
    workdir.mkdir(parents=True, exist_ok=True)
    envs = prepare(workdir)
    policy = write_policy(workdir / "policy.yaml")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = workdir / "envparity.duckdb"
    child_env = {**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"}
    with process_group(workdir) as group:
        collector = group.start(
            "collector",
            envparity_command("collector", "serve", "--db", str(db), "--port", str(port), "--thresholds", str(policy)),
            env=child_env,
        )
        wait_for_http(f"{url}/ready", proc=collector)
        print(f"collector: {url} (DuckDB {db}, policy {policy})")
        window_s = min(10.0, max(1.0, seconds / 6))
        servers = _start_model_servers(group, envs, url, window_s, child_env)
        print(f"\nsending transactions to production, mirrored to staging, for {seconds:.0f}s ...", flush=True)
        traffic = send_traffic(servers["production"][0], [u for u, _ in servers.values()], seconds)
        print(f"sent {traffic.sent} requests, {traffic.rejected} rejected (declined probes); {traffic.labels} labels")
        if not _stop(workdir, servers):
            return 1
        print("\nWhat the collector knows:")
        _print_environments(url)
        print()
        _print_fingerprint_diff(url)
        print()
        _print_parity(url)
        if serve:
            print(f"\nServing until Ctrl-C or SIGTERM: {url}/v1/environments  {url}/metrics")
            print(f"report: {url}/report?{urlencode(PAIR)}", flush=True)
            try:
                while collector.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return 0
