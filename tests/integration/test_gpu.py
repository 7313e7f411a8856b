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
from helpers import REPO, agent_run_args, envparity_cmd, run_cli

SOURCE = REPO / "tests" / "fake_nvml" / "fake_nvml.c"


def compile_fake_nvml(out: Path, *defines: str) -> Path:
    """The fake driver library in ``out``, compiled with the system compiler and ``-D`` each of ``defines``."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "a C compiler is needed (.ci/run installs gcc)"
    flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Werror", *(f"-D{d}" for d in defines)]
    subprocess.run([compiler, *flags, "-o", str(out / "libnvidia-ml.so.1"), str(SOURCE)], check=True)
    return out


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory) -> Path:
    """The fake driver library."""
    return compile_fake_nvml(tmp_path_factory.mktemp("nvml"))


@pytest.fixture(scope="session")
def old_nvml(tmp_path_factory) -> Path:
    """The fake library of a driver older than the bindings: some calls answer FUNCTION_NOT_FOUND."""
    return compile_fake_nvml(tmp_path_factory.mktemp("nvml-old"), "FAKE_NVML_OLD_DRIVER")


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


OLD_A100, OLD_A10G = "NVIDIA A100-SXM4-80GB:81920", "NVIDIA A10G:24576"


def test_older_driver_keeps_every_gpu_in_the_fingerprint(old_nvml, tmp_path):
    shown = {}
    for name, gpus in (("production", f"{OLD_A100},{OLD_A10G}"), ("staging", f"{OLD_A10G},{OLD_A10G}")):
        result = run_cli("fingerprint", "show", "--env-prefix", "NONE_", env=nvml_env(old_nvml, gpus=gpus))
        assert result.returncode == 0 and "left out of the fingerprint" not in result.stderr, result.stderr
        (tmp_path / f"{name}.json").write_text(result.stdout)
        shown[name] = json.loads(result.stdout)["compute"]["gpus"]
    a100, a10g = shown["production"]
    assert a100["name"] == "NVIDIA A100-SXM4-80GB" and a100["memory_total_bytes"] == 81920 * 2**20
    assert a10g["name"] == "NVIDIA A10G" and a10g["power_limit_watts"] == 70.0  # the rest is read
    assert a100["compute_capability"] is None and a100["mig_mode"] is None  # FUNCTION_NOT_FOUND: absent
    diff = run_cli(
        "fingerprint", "diff", str(tmp_path / "staging.json"), str(tmp_path / "production.json"), "--format", "json"
    )
    assert diff.returncode == 1, diff.stdout
    items = {i["key"]: i for i in json.loads(diff.stdout)["items"]}
    assert items["gpu0.name"]["severity"] == "fail"
    assert items["gpu0.memory_total_bytes"]["target"] == str(81920 * 2**20)


SAMPLE_THREE_TIMES = """
from envparity.agent.gpu import GpuSampler
sampler = GpuSampler()
for _ in range(3):
    sampler.sample()
print(sampler.seal().model_dump_json())
"""


def test_older_driver_telemetry_reads_what_the_driver_has(old_nvml):
    result = subprocess.run(
        [sys.executable, "-c", SAMPLE_THREE_TIMES],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **nvml_env(old_nvml)},
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    devices = json.loads(result.stdout)["devices"]
    assert [d["index"] for d in devices] == [0, 1]
    for device in devices:
        assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE"} <= set(device["values"])
    a100, t4 = (d["values"] for d in devices)
    assert t4["DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"] == 4  # read through the calls' older forms
    assert a100["envparity_gpu_processes"] == 0 and "envparity_gpu_processes" not in t4


def test_agent_reports_gpu_windows_to_the_collector(fake_nvml, tmp_path, start_collector):
    db = tmp_path / "store.duckdb"
    collector = start_collector(f"duckdb:///{db}")
    agent = subprocess.Popen(
        envparity_cmd(
            *agent_run_args(collector.url, tmp_path / "spool", "--env-prefix", "NONE_"),
            *("--window", "0.5", "--gpu-interval", "0.1"),
        ),
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
