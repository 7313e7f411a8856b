"""GPU gauges on the collector's /metrics, named and labelled as dcgm-exporter names and labels them.

Each GPU's newest window becomes one sample per metric with the labels
dcgm-exporter uses (``gpu``, ``UUID``, ``modelName``, ``Hostname``) plus
``service`` and ``environment``; ``envparity_gpu_lost`` is 1 for a GPU that
stopped answering.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.collector.store import Store

LABELS = ["gpu", "UUID", "modelName", "Hostname", "service", "environment"]
HELP = {
    "DCGM_FI_DEV_GPU_UTIL": "GPU utilization (in %).",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "Memory utilization (in %).",
    "DCGM_FI_DEV_FB_USED": "Framebuffer memory used (in MiB).",
    "DCGM_FI_DEV_FB_FREE": "Framebuffer memory free (in MiB).",
    "DCGM_FI_DEV_FB_TOTAL": "Framebuffer memory total (in MiB).",
    "DCGM_FI_DEV_GPU_TEMP": "GPU temperature (in C).",
    "DCGM_FI_DEV_POWER_USAGE": "Power draw (in W).",
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": "Power management limit (in W).",
    "DCGM_FI_DEV_SM_CLOCK": "SM clock frequency (in MHz).",
    "DCGM_FI_DEV_MEM_CLOCK": "Memory clock frequency (in MHz).",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "Current clock throttle reasons (bitmask).",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": "Total number of single-bit volatile ECC errors.",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "Total number of double-bit volatile ECC errors.",
    "DCGM_FI_DEV_PCIE_TX_THROUGHPUT": "PCIe TX throughput (in KB/s).",
    "DCGM_FI_DEV_PCIE_RX_THROUGHPUT": "PCIe RX throughput (in KB/s).",
    "envparity_gpu_processes": "Compute processes running on the GPU.",
}


class GpuCollector(Collector):
    """dcgm-compatible gauges from the newest GPU window of every environment."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        families = {name: GaugeMetricFamily(name, text, labels=LABELS) for name, text in HELP.items()}
        lost = GaugeMetricFamily("envparity_gpu_lost", "1 when the GPU stopped answering NVML.", labels=LABELS)
        for row in self.store.latest_gpu_windows():
            labels = [
                str(row["gpu_index"]),
                row["uuid"],
                row["name"] or "",
                row["hostname"] or "",
                row["service"],
                row["environment"],
            ]
            lost.add_metric(labels, 1.0 if row["lost"] else 0.0)
            for name, value in row["gpu_values"].items():
                if name in families:
                    families[name].add_metric(labels, value)
        yield from families.values()
        yield lost
