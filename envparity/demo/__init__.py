"""``envparity demo``: a collector on a DuckDB file, two model servers that differ, and traffic.

Everything runs as real processes on loopback: the collector, a staging and a
production model server (each with an in-process agent), and a traffic
generator sending both the same transactions. At the end the demo prints what
the collector knows and the differences it found.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from envparity.collector.report.tables import text_table
from envparity.demo.environments import DemoEnvironment, prepare
from envparity.demo.processes import ProcessGroup, envparity_command, process_group
from envparity.demo.traffic import send_traffic
from envparity.localservers import free_port, wait_for_http


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
        params={"service": "fraud", "baseline": "staging", "target": "production"},
    ).json()
    items = [DiffItem(**i) for i in diff["items"]]
    print(render_diff(items, "table", "fingerprint parity fraud: staging -> production"))


def _print_parity(url: str) -> None:
    from envparity.collector.parity.record import EvaluationRecord
    from envparity.collector.report.text import render_evaluation

    answer = httpx.get(
        f"{url}/v1/parity",
        timeout=120,
        params={"service": "fraud", "baseline": "staging", "target": "production", "fresh": "true", "window": "1h"},
    ).json()
    print(render_evaluation(EvaluationRecord.model_validate(answer), "table"))


def _start_model_servers(
    group: ProcessGroup,
    envs: dict[str, DemoEnvironment],
    collector: str,
    window_s: float,
    env: dict[str, str],
) -> dict[str, tuple[str, subprocess.Popen]]:
    servers = {}
    for name, demo_env in envs.items():
        port = free_port()
        proc = group.start(
            f"model-{name}",
            [
                sys.executable,
                "-m",
                "envparity.demo.model_server",
                "--environment",
                name,
                "--root",
                str(demo_env.root),
                "--port",
                str(port),
                "--collector",
                collector,
                "--window",
                str(window_s),
            ],
            env=env,
        )
        servers[name] = (f"http://127.0.0.1:{port}", proc)
    for name, (url, proc) in servers.items():
        wait_for_http(f"{url}/health", proc=proc, timeout_s=120)
        print(f"model server {name}: {url}")
    return servers


def run_demo(workdir: Path, seconds: float = 45.0, serve: bool = False) -> int:
    """Run the demo end to end; returns the process exit code."""
    workdir.mkdir(parents=True, exist_ok=True)
    envs = prepare(workdir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = workdir / "envparity.duckdb"
    child_env = {**os.environ, "ENVPARITY_LOG_LEVEL": "WARNING"}
    with process_group(workdir) as group:
        collector = group.start(
            "collector",
            envparity_command("collector", "serve", "--db", str(db), "--port", str(port)),
            env=child_env,
        )
        wait_for_http(f"{url}/ready", proc=collector)
        print(f"collector: {url} (DuckDB {db})")
        window_s = min(10.0, max(1.0, seconds / 6))
        servers = _start_model_servers(group, envs, url, window_s, child_env)
        print(f"\nsending the same traffic to both environments for {seconds:.0f}s ...", flush=True)
        traffic = send_traffic({name: u for name, (u, _) in servers.items()}, seconds)
        print(f"sent {traffic.sent} requests, rejected {traffic.failed}, {traffic.outcomes} outcomes each")
        for _, proc in servers.values():  # SIGTERM: each agent flushes its last window
            proc.terminate()
        for name, (_, proc) in servers.items():
            # uvicorn re-raises SIGTERM after its graceful shutdown (lifespan closes the agent)
            if proc.wait(timeout=60) not in (0, -signal.SIGTERM):
                print(f"model server {name} exited with {proc.returncode}; see {workdir}/model-{name}.log")
                return 1
        print("\nWhat the collector knows:")
        _print_environments(url)
        print()
        _print_fingerprint_diff(url)
        print()
        _print_parity(url)
        if serve:
            print(f"\nServing until Ctrl-C: {url}/v1/environments  {url}/metrics")
            try:
                while collector.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return 0
