"""Measures of one environment read off its aggregates: latency quantiles and classification metrics.

Latency quantiles come from the request histogram the agent counts over every
request, interpolated as Prometheus' ``histogram_quantile`` does, with their
sampling noise as a distribution-free confidence interval; classification
metrics from predictions joined to the outcomes that arrived for them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from envparity.collector.parity.dataset import Outcomes

if TYPE_CHECKING:  # the wire models are not needed to measure, and cost 0.2 s to import
    from envparity.agent.wire import RequestAggregates


def histogram_quantile(q: float, agg: RequestAggregates) -> float | None:
    """Quantile by linear interpolation inside the bucket, as Prometheus' histogram_quantile."""
    total = sum(agg.latency_bucket_counts)
    return _at_rank(q * total, agg) if total else None


def quantile_interval(q: float, agg: RequestAggregates, z: float) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the ``q`` quantile, read off the histogram.

    The rank of the true quantile among n requests is binomial(n, q): the interval
    spans the ranks n q -+ z sqrt(n q (1 - q)) (normal approximation), interpolated
    in the buckets as ``histogram_quantile`` does.
    """
    total = sum(agg.latency_bucket_counts)
    if total == 0:
        return None
    half = z * math.sqrt(total * q * (1 - q))
    return _at_rank(max(q * total - half, 0.0), agg), _at_rank(min(q * total + half, total), agg)


def _at_rank(rank: float, agg: RequestAggregates) -> float:
    """The latency at a (fractional) rank of the histogram's requests."""
    cumulative = 0
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
