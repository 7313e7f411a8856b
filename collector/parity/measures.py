"""Measures of one environment read off its aggregates: latency quantiles and classification metrics.

Latency quantiles come from the request histogram the agent counts over every
request, interpolated as Prometheus' ``histogram_quantile`` does; classification
metrics from predictions joined to the outcomes that arrived for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from envparity.collector.parity.dataset import Outcomes

if TYPE_CHECKING:  # the wire models are not needed to measure, and cost 0.2 s to import
    from envparity.agent.wire import RequestAggregates


def histogram_quantile(q: float, agg: RequestAggregates) -> float | None:
    """Quantile by linear interpolation inside the bucket, as Prometheus' histogram_quantile."""
    total = sum(agg.latency_bucket_counts)
    if total == 0:
        return None
    rank, cumulative = q * total, 0
    bounds = [0.0, *agg.latency_bucket_bounds_s]
    for i, count in enumerate(agg.latency_bucket_counts):
        if cumulative + count >= rank and count > 0:
            if i >= len(agg.latency_bucket_bounds_s):
                return agg.latency_bucket_bounds_s[-1]  # +Inf bucket: the highest finite bound
            lo, hi = bounds[i], bounds[i + 1]
            return lo + (hi - lo) * (rank - cumulative) / count
        cumulative += count
    return agg.latency_bucket_bounds_s[-1]


def classification_metrics(o: Outcomes) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class (textbook definitions)."""
    tp = int(np.sum((o.predicted == 1) & (o.actual == 1)))
    fp = int(np.sum((o.predicted == 1) & (o.actual == 0)))
    fn = int(np.sum((o.predicted == 0) & (o.actual == 1)))
    n = len(o.actual)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(o.predicted == o.actual)) if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
