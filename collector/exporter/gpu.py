"""GPU gauges on the collector's /metrics, named and labelled as dcgm-exporter names and labels them.

Each GPU's newest window becomes one sample per metric with the labels
dcgm-exporter uses, in snake_case (``gpu``, ``uuid``, ``model_name``,
``hostname``), plus ``service`` and ``environment``; ``envparity_gpu_lost`` is 1
for a GPU that stopped answering. Names, help and labels come from the metric
catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import GPU_GAUGES, family
from envparity.collector.store import Store


class GpuCollector(Collector):
    """dcgm-compatible gauges from the newest GPU window of every environment."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        families = {m.name: family(m.name, GaugeMetricFamily) for m in GPU_GAUGES}
        lost = family("envparity_gpu_lost", GaugeMetricFamily)
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
