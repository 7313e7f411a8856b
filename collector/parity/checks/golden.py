"""Layer 3, prediction: golden probes, the same inputs asked in both environments, compared answer by answer.

Each environment's latest answer to each input in the window is compared per
output (a JSON pointer of a model's answer, or a feature of a feature server):
the difference of two numbers is their absolute difference, of anything else 0
when equal and 1 when not. The ``golden`` check of an output takes the largest
difference over the inputs answered in both environments and fails above the
output's tolerance (``golden_tolerance``, or the thresholds file's
``golden_tolerances`` for that output); its detail names the worst inputs. An
output no input answered in both environments is not judged, and says which
probes failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.model import Check, Status, Thresholds

Answer = float | str
WORST_SHOWN = 3  # inputs named in a detail


@dataclass(frozen=True)
class ProbeAnswers:
    """One environment's golden answers in a window: input id -> output -> latest value, and failures by reason."""

    outputs: dict[str, dict[str, Answer]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldenProbes:
    """Both environments' answers and the tolerances set per output (the others take ``golden_tolerance``)."""

    baseline: ProbeAnswers
    target: ProbeAnswers
    tolerances: Mapping[str, float] = field(default_factory=dict)


def difference(a: Answer, b: Answer) -> float:
    """|a - b| for numbers; 0 for equal values of another kind, 1 for unequal ones."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b)
    return 0.0 if a == b else 1.0


def golden_answered(golden: GoldenProbes | None) -> bool:
    """Whether either environment answered (or failed) a golden probe in the window."""
    return golden is not None and any(a.outputs or a.failures for a in (golden.baseline, golden.target))


def golden_checks(golden: GoldenProbes | None, t: Thresholds) -> list[Check]:
    """A ``golden`` check per output answered in either environment; none when neither was probed."""
    if golden is None:
        return []
    b, tg = golden.baseline, golden.target
    names = sorted({name for answers in (b, tg) for outputs in answers.outputs.values() for name in outputs})
    return [_output_check(name, golden, t) for name in names]


def _output_check(name: str, golden: GoldenProbes, t: Thresholds) -> Check:
    tolerance = golden.tolerances.get(name, t.golden_tolerance)
    judged = t.model_copy(update={"golden_tolerance": tolerance})  # the threshold shown is the output's own
    b, tg = _values(golden.baseline, name), _values(golden.target, name)
    shared = sorted(b.keys() & tg.keys())
    if not shared:
        detail = f"no input answered {name} in both environments ({len(b)} baseline, {len(tg)} target)"
        return _row(judged, name, None, "insufficient_data", detail + _failures(golden))
    diffs = sorted(((difference(b[i], tg[i]), i) for i in shared), key=lambda item: (-item[0], item[1]))
    worst = diffs[0][0]
    over = [(d, i) for d, i in diffs if d > tolerance]
    shown = ", ".join(f"{i} ({_shown(b[i])} vs {_shown(tg[i])})" for _, i in (over or diffs)[:WORST_SHOWN])
    verdict = f"{len(over)} beyond the tolerance {tolerance:g}" if over else f"all within {tolerance:g}"
    detail = f"max difference {worst:.3g} over {len(shared)} inputs, {verdict}; worst: {shown}"
    return _row(judged, name, worst, "fail" if over else "ok", detail + _one_sided(b, tg) + _failures(golden))


def _shown(value: Answer) -> str:
    return f"{value:.10g}" if isinstance(value, float) else repr(value)


def _values(answers: ProbeAnswers, name: str) -> dict[str, Answer]:
    return {ident: outputs[name] for ident, outputs in answers.outputs.items() if name in outputs}


def _one_sided(b: dict[str, Answer], tg: dict[str, Answer]) -> str:
    only_b, only_t = len(b.keys() - tg.keys()), len(tg.keys() - b.keys())
    return f"; answered on one side only: {only_b} baseline, {only_t} target" if only_b or only_t else ""


def _failures(golden: GoldenProbes) -> str:
    sides = (("baseline", golden.baseline.failures), ("target", golden.target.failures))
    text = [f"{side} " + ", ".join(f"{r} {n}" for r, n in sorted(failed.items())) for side, failed in sides if failed]
    return f"; probe failures: {'; '.join(text)}" if text else ""


def _row(t: Thresholds, name: str, value: float | None, status: Status, detail: str) -> Check:
    return make_check(t, layer="prediction", check="golden", subject=name, value=value, status=status, detail=detail)
