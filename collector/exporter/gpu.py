"""GPU series on the collector's /metrics, named, typed and labelled as dcgm-exporter names, types and labels them.

Each GPU's newest window becomes one sample per metric with the labels
dcgm-exporter uses, in snake_case (``gpu``, ``uuid``, ``model_name``,
``hostname``), plus ``service`` and ``environment``; ``envparity_gpu_lost`` is 1
for a GPU that stopped answering. A GPU whose newest window ended more than
``stale_after`` ago is not exported at all, so that Prometheus marks its series
stale instead of repeating its last values until retention. Names, help, types
and labels come from the metric catalogue; the ECC error totals are counters
under dcgm-exporter's names, which carry no ``_total`` suffix of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import GPU, GPU_METRICS, MetricSpec, spec
from envparity.collector.store import Store

DEFAULT_STALE_AFTER = timedelta(minutes=5)  # five windows of a minute
DCGM_COUNTERS = tuple(m.name.encode() for m in GPU_METRICS if m.type == "counter")


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format, the dcgm counters' HELP and TYPE lines under their own names.

    prometheus-client writes a counter's HELP and TYPE lines for ``NAME_total``; dcgm-exporter's counters are
    ``..._TOTAL`` themselves, so their lines would describe a series that does not exist.
    """
    text = generate_latest(registry)
    for name in DCGM_COUNTERS:
        for line in (b"# HELP ", b"# TYPE "):
            text = text.replace(line + name + b"_total ", line + name + b" ")
    return text


def _family(metric: MetricSpec) -> Metric:
    """An empty family whose samples take the metric's own name (a counter's is not suffixed with ``_total``)."""
    return Metric(metric.name, metric.help, metric.type)


class GpuCollector(Collector):
    """dcgm-compatible series from the newest GPU window of every environment, for GPUs heard from lately."""

    def __init__(self, store: Store, stale_after: timedelta = DEFAULT_STALE_AFTER) -> None:
        self.store, self.stale_after = store, stale_after

    def collect(self) -> Iterable[Metric]:
        families = {m.name: _family(m) for m in GPU_METRICS}
        lost = _family(spec("envparity_gpu_lost"))
        for row in self.store.latest_gpu_windows(since=datetime.now(UTC) - self.stale_after):
            values = (row["gpu_index"], row["uuid"], row["name"] or "", row["hostname"] or "")
            labels = dict(zip(GPU, (*map(str, values), row["service"], row["environment"]), strict=True))
            lost.add_sample(lost.name, labels, 1.0 if row["lost"] else 0.0)
            for name, value in row["gpu_values"].items():
                if name in families:
                    families[name].add_sample(name, labels, value)
        yield from families.values()
        yield lost
