"""GPU telemetry through the real pynvml bindings over a fake libnvidia-ml.so.1 (no GPU in CI)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from helpers import REPO, run_cli

SOURCE = REPO / "tests" / "fake_nvml" / "fake_nvml.c"


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory) -> Path:
    """The fake driver library, compiled with the system compiler."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "a C compiler is needed (.ci/run installs gcc)"
    out = tmp_path_factory.mktemp("nvml")
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", str(out / "libnvidia-ml.so.1"), str(SOURCE)],
        check=True,
    )
    return out


def nvml_env(lib: Path, **scenario: str) -> dict[str, str]:
    return {"LD_LIBRARY_PATH": str(lib), **{f"FAKE_NVML_{k.upper()}": v for k, v in scenario.items()}}


def test_fingerprint_has_every_gpu(fake_nvml):
    result = run_cli("fingerprint", "show", env=nvml_env(fake_nvml))
    assert result.returncode == 0, result.stderr
    gpus = json.loads(result.stdout)["compute"]["gpus"]
    assert [g["name"] for g in gpus] == ["NVIDIA A100-SXM4-40GB", "Tesla T4"]
    a100, t4 = gpus
    assert a100["memory_total_bytes"] == 40960 * 2**20 and t4["memory_total_bytes"] == 15360 * 2**20
    assert a100["driver_version"] == "535.104.05" and a100["cuda_driver_version"] == "12.2"
    assert a100["compute_capability"] == "8.0" and t4["compute_capability"] == "7.5"
    assert a100["mig_mode"] is False and t4["mig_mode"] is None  # NOT_SUPPORTED stays absent
    assert a100["pci_bus_id"] == "00000000:17:00.0" and a100["power_limit_watts"] == 400.0
    assert len({g["uuid"] for g in gpus}) == 2


def test_no_nvml_library_means_no_gpu_and_one_line(tmp_path):
    result = run_cli("fingerprint", "show", env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert result.returncode == 0
    assert json.loads(result.stdout)["compute"]["gpus"] == []
    assert result.stderr.count("no GPU telemetry") == 1


def test_compute_parity_between_gpu_models(fake_nvml, tmp_path):
    for name, gpus in (("staging", "Tesla V100-SXM2-16GB:16384:7.0"), ("production", "Tesla V100-SXM2-32GB:32768:7.0")):
        out = run_cli("fingerprint", "show", "--env-prefix", "NONE_", env=nvml_env(fake_nvml, gpus=gpus))
        (tmp_path / f"{name}.json").write_text(out.stdout)
    diff = run_cli(
        "fingerprint", "diff", str(tmp_path / "staging.json"), str(tmp_path / "production.json"), "--format", "json"
    )
    assert diff.returncode == 1
    items = {i["key"]: i for i in json.loads(diff.stdout)["items"]}
    assert items["gpu0.name"]["severity"] == "fail"
    assert items["gpu0.memory_total_bytes"]["baseline"] == str(16384 * 2**20)
    assert "gpu0.driver_version" not in items


def test_agent_reports_gpu_windows_to_the_collector(fake_nvml, tmp_path, start_collector):
    db = tmp_path / "store.duckdb"
    collector = start_collector(f"duckdb:///{db}")
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envparity",
            "agent",
            "run",
            "--collector",
            collector.url,
            "--service",
            "fraud",
            "--environment",
            "staging",
            "--spool",
            str(tmp_path / "spool"),
            "--env-prefix",
            "NONE_",
            "--window",
            "0.5",
            "--gpu-interval",
            "0.1",
        ],
        env={**os.environ, **nvml_env(fake_nvml, lost="1:0.5:2.0")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = httpx.get(f"{collector.url}/v1/store").json()["rows"]["gpu_windows"]
        if rows >= 2 * 12:  # about 6 s of half-second windows, two GPUs each
            break
        time.sleep(0.2)
    agent.send_signal(signal.SIGTERM)
    output, _ = agent.communicate(timeout=60)
    assert agent.returncode == 0, output
    assert output.count("fell off the bus") == 1 and output.count("answers again") == 1
    metrics = httpx.get(f"{collector.url}/metrics").text
    util = [line for line in metrics.splitlines() if line.startswith("DCGM_FI_DEV_GPU_UTIL{")]
    assert len(util) == 2
    assert 'model_name="NVIDIA A100-SXM4-40GB"' in util[0] and 'service="fraud"' in util[0]
    assert 'uuid="GPU-fa4e0000-0000-4000-8000-000000004242"' in util[0] and 'gpu="0"' in util[0]
    pcie = [line for line in metrics.splitlines() if line.startswith("DCGM_FI_DEV_PCIE_TX_THROUGHPUT{")]
    assert len(pcie) == 1 and 'gpu="0"' in pcie[0]  # GPU 1 answers NOT_SUPPORTED: absent, not zero
    collector.kill(signal.SIGTERM)
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT sequence, lost, gpu_values FROM gpu_windows WHERE gpu_index = 1 ORDER BY sequence"
    ).fetchall()
    values0 = [
        json.loads(v)
        for (v,) in con.execute("SELECT gpu_values FROM gpu_windows WHERE gpu_index = 0 ORDER BY sequence").fetchall()
    ]
    con.close()
    lost = [r[1] for r in rows]
    assert True in lost and False in lost[lost.index(True) :]  # lost, then back
    utils = [v["DCGM_FI_DEV_GPU_UTIL"] for v in values0 if "DCGM_FI_DEV_GPU_UTIL" in v]
    assert len(set(utils)) > 1  # values change over time
    assert all("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL" not in json.loads(r[2]) for r in rows)
