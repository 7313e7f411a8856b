"""Prometheus exposition of the latest parity evaluations (a custom collector: ``collect()`` only)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from envparity.collector.parity.service import ParityService

STATUS_VALUE = {"ok": 0, "warn": 1, "fail": 2, "insufficient_data": -1}
PAIR = ["service", "baseline", "target"]


class ParityCollector(Collector):
    """Scores, check statuses and values of the latest evaluation of every pair."""

    def __init__(self, parity: ParityService) -> None:
        self.parity = parity

    def collect(self) -> Iterable[Metric]:
        score = GaugeMetricFamily("envparity_parity_score", "Parity score 0-100 of the latest evaluation.", labels=PAIR)
        layer = GaugeMetricFamily(
            "envparity_parity_layer_score", "Parity sub-score 0-100 per layer.", labels=[*PAIR, "layer"]
        )
        status = GaugeMetricFamily(
            "envparity_check_status",
            "Check status: 0 ok, 1 warn, 2 fail, -1 insufficient data.",
            labels=[*PAIR, "layer", "check", "subject"],
        )
        value = GaugeMetricFamily(
            "envparity_check_value",
            "Measured value of a numeric check.",
            labels=[*PAIR, "layer", "check", "subject"],
        )
        failing = GaugeMetricFamily("envparity_failing_checks", "Failing checks per layer.", labels=[*PAIR, "layer"])
        for (service, baseline, target), ev in sorted(self.parity.latest.items()):
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
        yield from (score, layer, status, value, failing)
        duration = GaugeMetricFamily(
            "envparity_evaluation_duration_seconds", "Duration of the last scheduled evaluation cycle."
        )
        success = GaugeMetricFamily(
            "envparity_evaluation_last_success_timestamp_seconds",
            "Unix time the last scheduled evaluation cycle finished.",
        )
        if self.parity.last_duration_s is not None:
            duration.add_metric([], self.parity.last_duration_s)
        if self.parity.last_success is not None:
            success.add_metric([], self.parity.last_success)
        yield from (duration, success)
