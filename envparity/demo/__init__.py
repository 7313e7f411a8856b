"""``envparity demo``: a collector on a DuckDB file and two environments that differ."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from envparity.collector.tables import text_table
from envparity.demo.environments import prepare
from envparity.demo.processes import envparity_command, process_group
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


def run_demo(workdir: Path, seconds: float = 45.0, serve: bool = False) -> int:
    """Run the demo end to end; returns the process exit code."""
    from envparity.cli.fingerprint import render_diff
    from envparity.collector.parity.fingerprint_diff import DiffItem

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
        for name, env in envs.items():
            agent = subprocess.run(
                envparity_command(
                    "agent",
                    "run",
                    "--once",
                    "--collector",
                    url,
                    "--service",
                    "fraud",
                    "--environment",
                    name,
                    "--spool",
                    str(workdir / "spool" / name),
                    *env.cli_sources(),
                ),
                env=child_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if agent.returncode != 0:
                print(f"agent for {name} failed ({agent.returncode}): {agent.stderr.strip()}")
                return 1
        print("\nWhat the collector knows:")
        _print_environments(url)
        diff = httpx.get(
            f"{url}/v1/fingerprints/diff",
            timeout=10,
            params={"service": "fraud", "baseline": "staging", "target": "production"},
        ).json()
        items = [DiffItem(**i) for i in diff["items"]]
        print()
        print(render_diff(items, "table", "fingerprint parity fraud: staging -> production"))
        if serve:
            print(f"\nServing until Ctrl-C: {url}/v1/environments  {url}/metrics")
            try:
                while collector.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return 0
