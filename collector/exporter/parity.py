"""Prometheus exposition of the scheduled parity evaluations (a custom collector: ``collect()`` only).

Per pair: the score, layer scores, every check's status and value, failing checks per
layer, fingerprint parity, and the top probable causes (what alert descriptions name).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.agent.catalogue import spec
from envparity.collector.service import ParityService

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2, "insufficient_data": -1}
TOP_CAUSES = 3  # the probable causes exported per pair, most likely first
# every gauge of a pair's latest scheduled evaluation: what only the scheduled cycle changes
PARITY_GAUGES = (
    "envparity_parity_score",
    "envparity_parity_layer_score",
    "envparity_check_status",
    "envparity_check_value",
    "envparity_failing_checks",
    "envparity_fingerprint_parity_ratio",
    "envparity_probable_cause",
)


def _gauge(name: str) -> GaugeMetricFamily:
    """The empty family of a catalogued gauge (every parity metric is one)."""
    family = spec(name).family()
    if not isinstance(family, GaugeMetricFamily):
        raise TypeError(f"{name} is not a gauge in the metric catalogue")
    return family


class ParityCollector(Collector):
    """Scores, check statuses and values of the latest scheduled evaluation of every pair."""

    def __init__(self, parity: ParityService) -> None:
        self.parity = parity

    def collect(self) -> Iterable[Metric]:
        score, layer, status, value, failing, fingerprint, causes = (_gauge(name) for name in PARITY_GAUGES)
        for (service, baseline, target), ev in self.parity.exported():
            pair = [service, baseline, target]
            if ev.score is not None:
                score.add_metric(pair, ev.score)
            for name, sub in ev.layer_scores.items():
                layer.add_metric([*pair, name], sub)
            counts: dict[str, int] = {}
            for c in ev.checks:
                labels = [*pair, c.layer, c.check, c.subject]
                status.add_metric(labels, STATUS_VALUE[c.status])
                if isinstance(c.value, int | float) and c.value == c.value and abs(c.value) != float("inf"):
                    value.add_metric(labels, float(c.value))
                counts[c.layer] = counts.get(c.layer, 0) + (c.status == "fail")
            for name, n in counts.items():
                failing.add_metric([*pair, name], n)
            for dimension, ratio in ev.fingerprint_parity.items():
                fingerprint.add_metric([*pair, dimension], ratio)
            ranked = ev.probable_causes.causes[:TOP_CAUSES] if ev.probable_causes else []
            for rank, cause in enumerate(ranked, 1):
                causes.add_metric([*pair, str(rank), cause.key, cause.dimension], cause.score)
        yield from (score, layer, status, value, failing, fingerprint, causes)
        duration = _gauge("envparity_evaluation_duration_seconds")
        success = _gauge("envparity_evaluation_last_success_timestamp_seconds")
        if self.parity.last_duration_s is not None:
            duration.add_metric([], self.parity.last_duration_s)
        if self.parity.last_success is not None:
            success.add_metric([], self.parity.last_success)
        yield from (duration, success)
