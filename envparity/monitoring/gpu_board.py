"""The GPU dashboard: telemetry of baseline and target GPUs (dcgm-exporter metric names) read by the agents via NVML."""

from __future__ import annotations

from grafanalib.core import Dashboard

from envparity.monitoring.board import dashboard
from envparity.monitoring.panels import COUNT_STEPS, SIDES, Row, above, layout, timeseries
from envparity.monitoring.promql import select

HOT_C = 85  # a line on the temperature panel where datacenter GPUs start to throttle; no check judges it


def _gpu(series: str) -> tuple[str, str]:
    return select(series, SIDES), "{{environment}} GPU {{gpu}} {{model_name}} ({{hostname}})"


def _load() -> Row:
    return [
        (
            timeseries(
                "GPU utilisation",
                "Share of time a kernel ran, per GPU (DCGM_FI_DEV_GPU_UTIL).",
                "percent",
                [_gpu("DCGM_FI_DEV_GPU_UTIL")],
            ),
            12,
        ),
        (
            timeseries(
                "GPU memory used",
                "Framebuffer memory in use per GPU (DCGM_FI_DEV_FB_USED).",
                "mbytes",
                [_gpu("DCGM_FI_DEV_FB_USED")],
            ),
            12,
        ),
    ]


def _health() -> Row:
    return [
        (
            timeseries(
                "GPU temperature",
                "Temperature of each GPU (DCGM_FI_DEV_GPU_TEMP).",
                "celsius",
                [_gpu("DCGM_FI_DEV_GPU_TEMP")],
                above(HOT_C),
            ),
            8,
        ),
        (
            timeseries(
                "GPU power",
                "Power draw of each GPU (DCGM_FI_DEV_POWER_USAGE).",
                "watt",
                [_gpu("DCGM_FI_DEV_POWER_USAGE")],
            ),
            8,
        ),
        (
            timeseries(
                "GPUs lost",
                "GPUs that stopped answering NVML, per environment.",
                "none",
                [(f"sum by (environment) ({select('envparity_gpu_lost', SIDES)})", "{{environment}}")],
                COUNT_STEPS,
                alerts=["EnvParityGpuLost"],
            ),
            8,
        ),
    ]


def gpu() -> Dashboard:
    return dashboard(
        "envparity-gpu",
        "envparity / GPU",
        "GPU telemetry of baseline and target (dcgm-exporter metric names), read by the agents through NVML.",
        layout([_load(), _health()]),
    )
