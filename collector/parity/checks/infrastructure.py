"""Layer 1, infrastructure: request rate, error rate and latency quantiles over every request, and the GPUs.

Requests are compared from the exact aggregates the agents count (not the sampled
requests): the error rate fails on an increase over its threshold that a
two-proportion test also finds significant; a latency quantile fails when the
ratio is over its threshold, the quantile grew by more than an absolute floor
(``latency_min_increase_s``: a few milliseconds matter to nobody), and the
growth is more than sampling noise: the target's confidence interval of the
quantile lies above the baseline's (each at ``fail_fdr``, one-sided). GPU checks
judge the target's saturation, memory headroom and lost GPUs.
"""

from __future__ import annotations

from functools import partial
from statistics import NormalDist
from typing import TYPE_CHECKING

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.dataset import EnvironmentData
from envparity.collector.parity.measures import histogram_quantile, quantile_interval
from envparity.collector.parity.model import Check, Status, Thresholds
from envparity.collector.parity.pvalues import two_proportion_pvalue

if TYPE_CHECKING:
    from envparity.agent.wire import RequestAggregates


def infrastructure_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    """The request checks when either side counted requests, then the GPU checks."""
    checks = request_checks(base, target, t) if (base.requests or target.requests) else []
    return checks + gpu_checks(base, target, t)


def request_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    b, g = base.requests, target.requests
    row = partial(make_check, t, layer="infrastructure", subject="service")
    if b is None or g is None or b.requests == 0 or g.requests == 0:
        detail = "no request aggregates in one of the environments"
        return [row(check="requests", status="insufficient_data", value=0.0, detail=detail)]
    checks = []
    rate_b = b.requests / base.window_s if base.window_s else None
    rate_t = g.requests / target.window_s if target.window_s else None
    if rate_b and rate_t:
        detail = f"{rate_t:.3g} req/s in target vs {rate_b:.3g} in baseline"
        checks.append(row(check="request_rate", value=rate_t, status="ok", detail=detail))
    eb, eg = sum(b.errors.values()), sum(g.errors.values())
    rb, rg = eb / b.requests, eg / g.requests
    p = two_proportion_pvalue(eb, b.requests, eg, g.requests)
    status: Status = "fail" if rg - rb > t.error_rate_max_increase and p < t.fail_fdr else "ok"
    detail = f"error rate {rg:.2%} in target vs {rb:.2%} in baseline (p={p:.3g})"
    checks.append(row(check="error_rate", value=rg, status=status, detail=detail))
    latencies = [latency_check(q, b, g, t) for q in (0.5, 0.95, 0.99)]
    return checks + [c for c in latencies if c is not None]


def latency_check(q: float, b: RequestAggregates, g: RequestAggregates, t: Thresholds) -> Check | None:
    """The ratio of a latency quantile, target over baseline, judged with its floor and its noise."""
    name = f"p{round(q * 100)}"
    lb, lt = histogram_quantile(q, b), histogram_quantile(q, g)
    z = NormalDist().inv_cdf(1 - t.fail_fdr)
    bounds_b, bounds_t = quantile_interval(q, b, z), quantile_interval(q, g, z)
    if lb is None or lt is None or bounds_b is None or bounds_t is None:
        return None
    ratio = lt / lb if lb > 0 else 1.0
    beyond_noise = bounds_t[0] > bounds_b[1]
    failing = ratio > t.latency_ratio_max and lt - lb > t.latency_min_increase_s and beyond_noise
    return make_check(
        t,
        layer="infrastructure",
        check=f"latency_{name}_ratio",
        subject="service",
        value=ratio,
        status="fail" if failing else "ok",
        detail=f"latency {name} {lt * 1000:.3g} ms in target vs {lb * 1000:.3g} ms in baseline "
        f"(intervals {bounds_t[0] * 1000:.3g}-{bounds_t[1] * 1000:.3g} vs "
        f"{bounds_b[0] * 1000:.3g}-{bounds_b[1] * 1000:.3g} ms; floor {t.latency_min_increase_s * 1000:g} ms)",
    )


def gpu_checks(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[Check]:
    """Saturation, memory headroom and lost GPUs of the target, next to the baseline."""
    g, b = target.gpu, base.gpu
    if g is None:
        return []
    checks = []
    row = partial(make_check, t, layer="infrastructure", subject="gpu")
    if g.mean_utilization is not None:
        base_text = f" vs {b.mean_utilization:.0f}% in baseline" if b and b.mean_utilization is not None else ""
        checks.append(
            row(
                check="gpu_utilization",
                value=g.mean_utilization,
                status="warn" if g.mean_utilization >= t.gpu_utilization_max else "ok",
                detail=f"mean GPU utilization {g.mean_utilization:.0f}% in target{base_text}",
            )
        )
    if g.peak_memory_used is not None:
        headroom = 1 - g.peak_memory_used
        status: Status = (
            "fail"
            if headroom < t.gpu_memory_headroom_min
            else "warn"
            if headroom < 2 * t.gpu_memory_headroom_min
            else "ok"
        )
        detail = f"GPU memory headroom {headroom:.1%} at the peak of the window"
        checks.append(row(check="gpu_memory_headroom", value=headroom, status=status, detail=detail))
    detail = f"{g.lost} of {g.gpus} GPUs stopped answering in the window"
    checks.append(
        row(check="gpu_lost", value=float(g.lost), status="fail" if g.lost else "ok", detail=detail, reference=0)
    )
    return checks
