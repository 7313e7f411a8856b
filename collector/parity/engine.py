"""The parity engine: compares a baseline with a target, layer by layer, and scores the result.

Score (0-100), so a person can recompute it: within each layer, every subject (a
feature, a package, ``service`` for the infrastructure checks, ...) takes the
worst status of its checks; the layer scores ``100 * (ok + 0.5 * warn) / judged``
over its judged subjects (``insufficient_data`` is not judged); the overall score
is the mean of the layer scores of the layers that judged something. A layer with
nothing to judge has no score.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from envparity.collector.parity.checks.builder import insufficient
from envparity.collector.parity.checks.data import (
    MissingValues,
    feature_drift_checks,
    null_rate_check,
    presence_checks,
    range_check,
    schema_checks,
)
from envparity.collector.parity.checks.fingerprint import fingerprint_checks
from envparity.collector.parity.checks.golden import GoldenProbes, golden_answered, golden_checks
from envparity.collector.parity.checks.infrastructure import infrastructure_checks
from envparity.collector.parity.checks.outcome import outcome_checks
from envparity.collector.parity.checks.prediction import prediction_drift_checks, shadow_checks
from envparity.collector.parity.dataset import EnvironmentData, FeatureColumn, ShadowPairs
from envparity.collector.parity.distributions import distributions, numeric_histogram
from envparity.collector.parity.evaluation import Evaluation
from envparity.collector.parity.model import LAYERS, STATUS_ORDER, Check, Layer, Thresholds, overall_status
from envparity.collector.parity.pvalues import benjamini_hochberg
from envparity.collector.parity.ranks import MAX_EXACT
from envparity.collector.parity.samples import SortedSample, prepare
from envparity.collector.parity.stats import (
    CategoricalComparison,
    NumericComparison,
    compare_categorical,
    compare_rows,
    compare_sorted,
)

if TYPE_CHECKING:  # fingerprint items come from the store; files have none
    from envparity.collector.parity.fingerprint_diff import DiffItem

WORKERS = min(8, os.cpu_count() or 1)
PARALLEL_MIN_VALUES = 1_000_000  # feature values (both sides) from which features are compared on threads


@dataclass
class _Compared:
    """A distribution comparison whose checks wait for the corrected p-value."""

    layer: Layer
    subject: str
    comparison: NumericComparison | CategoricalComparison
    drawn: dict[str, Any] | None = None  # binned shares for the report (numeric subjects)

    @property
    def pvalue(self) -> float:
        c = self.comparison
        return c.ks_pvalue if isinstance(c, NumericComparison) else c.chi2_pvalue


def _compare_numbers(
    layer: Layer, subject: str, vb: np.ndarray, vt: np.ndarray, t: Thresholds, owned: bool = False
) -> _Compared:
    """``owned``: the arrays were read for this comparison alone and may be sorted in place."""
    b, tt = prepare(vb, in_place=owned), prepare(vt, in_place=owned)
    return _numeric_compared(layer, subject, compare_sorted(b, tt, t.psi_binning), b, tt)


def _numeric_compared(layer: Layer, subject: str, c: NumericComparison, b: SortedSample, tt: SortedSample) -> _Compared:
    """A numeric comparison, drawn for the report while its sorted samples are at hand."""
    return _Compared(layer, subject, c, numeric_histogram(b, tt))


def _compare_feature(name: str, fb: FeatureColumn, ft: FeatureColumn, t: Thresholds) -> _Compared:
    if fb.kind == "numeric":
        owned = fb.numeric is None and ft.numeric is None  # both read now
        return _compare_numbers("data", name, fb.numbers(), ft.numbers(), t, owned)  # type: ignore[arg-type]
    return _Compared("data", name, compare_categorical(fb.categories, ft.categories, t.psi_binning))  # type: ignore[arg-type]


_Held = tuple[int, Layer, str, np.ndarray, np.ndarray]  # a task's index, layer, subject and both sides' numbers


def _batched(held: list[_Held], t: Thresholds) -> dict[int, _Compared]:
    """Numeric comparisons of complete, finite samples with the same sizes, computed together (``compare_rows``)."""
    groups: dict[tuple[int, int], list[_Held]] = defaultdict(list)
    for item in held:
        vb, vt = item[3], item[4]
        if 0 < vb.size <= MAX_EXACT and 0 < vt.size <= MAX_EXACT and np.isfinite(vb).all() and np.isfinite(vt).all():
            groups[(vb.size, vt.size)].append(item)
    done = {}
    for (nb, nt), items in groups.items():
        if len(items) < 2:
            continue
        base = np.sort(np.stack([item[3] for item in items]), axis=1)
        target = np.sort(np.stack([item[4] for item in items]), axis=1)
        for (index, layer, subject, _, _), b, tt, c in zip(
            items, base, target, compare_rows(base, target), strict=True
        ):
            if c is not None:
                done[index] = _numeric_compared(layer, subject, c, SortedSample(b, nb), SortedSample(tt, nt))
    return done


def _comparisons(base: EnvironmentData, target: EnvironmentData, t: Thresholds) -> list[_Compared]:
    """Every feature present on both sides with one kind, then prediction and confidence.

    Large inputs are compared on a thread per CPU (NumPy's sorts and the file reads release the GIL);
    small ones in turn, where the work is Python overhead that threads cannot share, so numeric
    samples of equal sizes are compared together, along the rows of one array (quantile binning).
    """
    tasks: list[Callable[[], _Compared]] = []
    held: list[_Held] = []
    values = 0
    for name in sorted(base.features.keys() & target.features.keys()):
        fb, ft = base.features[name], target.features[name]
        if fb.kind == ft.kind and fb.kind in ("numeric", "categorical"):
            if fb.kind == "numeric" and fb.numeric is not None and ft.numeric is not None:
                held.append((len(tasks), "data", name, fb.numeric, ft.numeric))
            tasks.append(partial(_compare_feature, name, fb, ft, t))
            values += fb.n_total + ft.n_total
    for subject, attribute in (("prediction", "predictions"), ("confidence", "confidence")):
        vb, vt = getattr(base, attribute), getattr(target, attribute)
        if vb is not None and vt is not None:
            held.append((len(tasks), "prediction", subject, vb, vt))
            tasks.append(partial(_compare_numbers, "prediction", subject, vb, vt, t))
            values += vb.size + vt.size
    if values >= PARALLEL_MIN_VALUES:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return list(pool.map(lambda task: task(), tasks))
    done = _batched(held, t) if t.psi_binning == "quantile" else {}
    return [done[i] if i in done else task() for i, task in enumerate(tasks)]


def _judged(compared: list[_Compared], t: Thresholds, out: list[Check]) -> list[_Compared]:
    """The comparisons with enough samples on both sides; the others become ``insufficient_data`` checks."""
    judged = []
    for item in compared:
        nb, nt = item.comparison.n_baseline, item.comparison.n_target
        if item.layer == "prediction" and nb == nt == 0:  # not recorded on either side
            continue
        if min(nb, nt) < t.min_samples:
            out.append(insufficient(t, item.layer, item.subject, nb, nt))
            continue
        judged.append(item)
    return judged


_LAYER_DRIFT_CHECKS = {"data": feature_drift_checks, "prediction": prediction_drift_checks}


def _missing_values(
    base: EnvironmentData, target: EnvironmentData, compared: list[_Compared], t: Thresholds
) -> list[MissingValues]:
    """Missing values of every feature on both sides whose baseline has values, compared or not.

    A feature missing from most of the target has too few values for the distribution checks,
    and one missing from all of it is ``empty``: its null rate is judged all the same, when
    each side has ``min_samples`` rows.
    """
    counted = {c.subject: (c.comparison.n_baseline, c.comparison.n_target) for c in compared if c.layer == "data"}
    out = []
    for name in sorted(base.features.keys() & target.features.keys()):
        fb, ft = base.features[name], target.features[name]
        if min(fb.n_total, ft.n_total) < t.min_samples:
            continue
        nb, nt = counted.get(name) or (fb.present(), ft.present())
        if nb and nt is not None:
            out.append(MissingValues(name, fb.n_total - nb, fb.n_total, ft.n_total - nt, ft.n_total))
    return out


def _resolve(pending: list[_Compared], missing: list[MissingValues], t: Thresholds) -> list[Check]:
    """The distribution and null-rate checks, their p-values corrected together (Benjamini-Hochberg).

    The family is the tests that can end in a failure: every distribution, and the null rates
    whose rise passes the practical floor. A null rate under the floor cannot fail whatever its
    p-value, and counting it would only weaken the correction of the tests that can.
    """
    tested = [m for m in missing if m.rise > t.null_rate_max_increase]
    qs = benjamini_hochberg([p.pvalue for p in pending] + [m.pvalue for m in tested])
    out = []
    for item, q in zip(pending, qs, strict=False):
        out += _LAYER_DRIFT_CHECKS[item.layer](item.subject, item.comparison, q, t)
    corrected = dict(zip((m.subject for m in tested), qs[len(pending) :], strict=True))
    out += [null_rate_check(m, corrected.get(m.subject), t) for m in missing]
    return out


def layer_scores(checks: list[Check]) -> dict[str, float]:
    worst: dict[tuple[str, str], str] = {}
    for c in checks:
        key = (c.layer, c.subject)
        if key not in worst or STATUS_ORDER[c.status] < STATUS_ORDER[worst[key]]:
            worst[key] = c.status
    tally: dict[str, list[float]] = defaultdict(list)
    for (layer, _), status in worst.items():
        if status != "insufficient_data":
            tally[layer].append({"ok": 1.0, "warn": 0.5, "fail": 0.0}[status])
    return {layer: round(100 * sum(v) / len(v), 2) for layer in LAYERS if (v := tally.get(layer))}


def evaluate(
    service: str,
    base: EnvironmentData,
    target: EnvironmentData,
    thresholds: Thresholds,
    fingerprint_items: list[DiffItem] | None = None,
    shadow: ShadowPairs | Future[ShadowPairs] | None = None,
    golden: GoldenProbes | None = None,
) -> Evaluation:
    """Every check between a baseline and a target, failures first, with the score.

    ``shadow`` may still be being matched by the store (a future): it is waited for after the
    distributions are compared. ``golden``: both environments' answers to the golden probes.
    """
    started = time.perf_counter()
    t = thresholds
    checks = infrastructure_checks(base, target, t) + presence_checks(base, target, t, golden_answered(golden))
    compared = _comparisons(base, target, t)
    judged = _judged(compared, t, checks)
    checks += _resolve(judged, _missing_values(base, target, compared, t), t)
    checks += schema_checks(base, target, t)
    ranged = [
        (c.subject, c.comparison) for c in judged if c.layer == "data" and isinstance(c.comparison, NumericComparison)
    ]
    checks += [range_check(subject, c, t, len(ranged)) for subject, c in ranged]
    checks += shadow_checks(shadow.result() if isinstance(shadow, Future) else shadow, t)
    checks += golden_checks(golden, t)
    checks += outcome_checks(base, target, t)
    checks += fingerprint_checks(fingerprint_items or [], t)
    checks.sort(key=lambda c: (STATUS_ORDER[c.status], LAYERS.index(c.layer), c.subject, c.check))
    scores = layer_scores(checks)
    drifting = [c.subject for c in checks if c.layer in ("data", "prediction") and c.status in ("fail", "warn")]
    numeric = {item.subject: item.drawn for item in judged if item.drawn is not None}
    drawn = distributions(list(dict.fromkeys([*drifting, *(item.subject for item in judged)])), numeric, base, target)
    return Evaluation(
        service=service,
        baseline=base.name,
        target=target.name,
        status=overall_status(checks),
        score=round(sum(scores.values()) / len(scores), 2) if scores else None,
        layer_scores=scores,
        checks=checks,
        duration_s=time.perf_counter() - started,
        counts={
            "baseline_samples": base.samples,
            "target_samples": target.samples,
            "baseline_compared": base.samples if base.thinned_to is None else base.thinned_to,
            "target_compared": target.samples if target.thinned_to is None else target.thinned_to,
        },
        distributions=drawn,
    )
