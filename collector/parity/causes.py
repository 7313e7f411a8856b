"""Probable causes: each failing symptom linked to the differences that can explain it, most likely first.

A *symptom* is a failing (or warning) behaviour: a drifting feature, a prediction
drift, an outcome drop, a latency or error-rate change, grouped per (layer,
subject). A *cause* is a difference of the environments: a fingerprint entry that
differs (a package, a config key, an artifact, the GPU). Pure: no store, no clock.

The ranking rule, so that a person can recompute it:

1. A link between a cause ``C`` and a symptom ``S`` has a weight, the sum of its evidence:
   * 3 when the policy file declares ``S``'s subject depends on ``C`` (lineage; a
     declared key matches the cause's key exactly or as a prefix ending at ``:``/``.``);
   * 2 when ``C`` changed at most ``horizon`` before ``S`` first failed (time);
   * 1 when ``C``'s dimension can explain ``S``'s layer at all (structure: code and
     config explain data, prediction and infrastructure; artifacts explain data and
     prediction; compute explains infrastructure and prediction).
   Without any of these there is no link; where the policy file declares what a
   subject depends on, structure alone does not link other causes to it.
2. Symptoms explain symptoms downstream (data -> prediction -> outcome): a cause that
   explains a data symptom explains the prediction and outcome symptoms it leads to,
   at half the weight per step.
3. A cause's score is the sum, over the symptoms it explains, of its strongest link
   to that symptom (direct or through an upstream symptom) x the symptom's severity
   (fail 1, warn 0.5). Causes are ranked by score, then by the number of symptoms,
   then by dimension (artifacts, config, code, compute) and key.
4. A symptom that no cause explains and that no upstream symptom accounts for is
   listed as unexplained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from envparity.collector.parity.model import Check

LINEAGE_WEIGHT = 3.0
TIME_WEIGHT = 2.0
STRUCTURE_WEIGHT = 1.0
STEP_DECAY = 0.5
SEVERITY = {"fail": 1.0, "warn": 0.5}
_DIMENSION_ORDER = ("artifacts", "config", "code", "compute")
_EXPLAINS: dict[str, frozenset[str]] = {
    "code": frozenset({"data", "prediction", "infrastructure"}),
    "config": frozenset({"data", "prediction", "infrastructure"}),
    "artifacts": frozenset({"data", "prediction"}),
    "compute": frozenset({"infrastructure", "prediction"}),
}
_DOWNSTREAM = {"data": ("prediction", "outcome"), "prediction": ("outcome",)}
_SYMPTOM_LAYERS = ("infrastructure", "data", "prediction", "outcome")
_NOT_SYMPTOMS = frozenset({"requests", "drift", "jensen_shannon", "mean_shift", "variance_ratio"})


@dataclass(frozen=True)
class Symptom:
    """A failing behaviour: one subject of one layer, with the checks that fail on it."""

    layer: str
    subject: str
    status: str
    checks: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.layer}:{self.subject}"


@dataclass(frozen=True)
class Link:
    """Why a cause explains a symptom: the evidence and the weight it adds up to."""

    symptom: str
    weight: float
    evidence: tuple[str, ...]


@dataclass
class ProbableCause:
    """One difference between the environments, the symptoms it explains and its score."""

    key: str
    dimension: str
    detail: str
    score: float = 0.0
    links: list[Link] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "dimension": self.dimension,
            "detail": self.detail,
            "score": round(self.score, 3),
            "explains": [{"symptom": k.symptom, "weight": k.weight, "evidence": list(k.evidence)} for k in self.links],
        }


@dataclass
class CauseAnalysis:
    """The ranked causes and the symptoms nothing explains."""

    causes: list[ProbableCause]
    unexplained: list[str]

    def as_dict(self) -> dict[str, object]:
        return {"causes": [c.as_dict() for c in self.causes], "unexplained": self.unexplained}


def symptoms_of(checks: Sequence[Check]) -> list[Symptom]:
    """Failing and warning behaviour grouped per (layer, subject), worst status first within a group."""
    grouped: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        if c.layer in _SYMPTOM_LAYERS and c.status in SEVERITY and c.check not in _NOT_SYMPTOMS:
            grouped.setdefault((c.layer, c.subject), []).append(c)
    return [
        Symptom(
            layer,
            subject,
            "fail" if any(c.status == "fail" for c in group) else "warn",
            tuple(sorted({c.check for c in group})),
        )
        for (layer, subject), group in grouped.items()
    ]


def _declared(subject: str, key: str, lineage: Mapping[str, Sequence[str]]) -> bool:
    return any(key == d or key.startswith((f"{d}:", f"{d}.")) for d in lineage.get(subject, ()))


def _link(
    cause: Check,
    symptom: Symptom,
    lineage: Mapping[str, Sequence[str]],
    changed_at: Mapping[str, datetime],
    first_failed: Mapping[str, datetime],
    horizon: timedelta,
) -> Link | None:
    dimension = cause.layer.removeprefix("fingerprint.")
    evidence, weight = [], 0.0
    if _declared(symptom.subject, cause.subject, lineage):
        weight += LINEAGE_WEIGHT
        evidence.append(f"declared: {symptom.subject} depends on {cause.subject}")
    changed, failed = changed_at.get(cause.subject), first_failed.get(symptom.name)
    if changed is not None and failed is not None and timedelta(0) <= failed - changed <= horizon:
        weight += TIME_WEIGHT
        minutes = (failed - changed).total_seconds() / 60
        evidence.append(f"time: changed {minutes:.0f} min before {symptom.subject} first failed")
    if symptom.layer in _EXPLAINS.get(dimension, frozenset()):
        weight += STRUCTURE_WEIGHT
        evidence.append(f"structure: a {dimension} difference can change {symptom.layer}")
    if weight == 0 or (weight == STRUCTURE_WEIGHT and lineage.get(symptom.subject)):
        return None  # no evidence, or only structure where the policy file names what the subject depends on
    return Link(symptom.name, weight, tuple(evidence))


def _downstream(symptom: Symptom, symptoms: Sequence[Symptom]) -> list[tuple[Symptom, int]]:
    """Symptoms that ``symptom`` leads to, with the number of steps (data -> prediction -> outcome)."""
    layers = _DOWNSTREAM.get(symptom.layer, ())
    return [(s, layers.index(s.layer) + 1) for s in symptoms if s.layer in layers]


def rank_causes(
    checks: Sequence[Check],
    lineage: Mapping[str, Sequence[str]] | None = None,
    changed_at: Mapping[str, datetime] | None = None,
    first_failed: Mapping[str, datetime] | None = None,
    horizon: timedelta = timedelta(hours=24),
) -> CauseAnalysis:
    """Rank the failing fingerprint differences in ``checks`` by the symptoms they explain (rule above).

    ``lineage`` maps a subject (a feature, ``prediction``) to the cause keys it depends on;
    ``changed_at`` maps a cause key to when the target's value changed; ``first_failed``
    maps a symptom name (``layer:subject``) to the first evaluation in which it failed.
    """
    lineage, changed_at, first_failed = lineage or {}, changed_at or {}, first_failed or {}
    symptoms = symptoms_of(checks)
    severity = {s.name: SEVERITY[s.status] for s in symptoms}
    explained: set[str] = set()
    causes = []
    for c in checks:
        if not c.layer.startswith("fingerprint.") or c.status not in SEVERITY:
            continue
        best: dict[str, Link] = {}  # the strongest link to each symptom, direct or through an upstream one
        for symptom in symptoms:
            link = _link(c, symptom, lineage, changed_at, first_failed, horizon)
            if link is None:
                continue
            paths = [link] + [
                Link(later.name, link.weight * STEP_DECAY**steps, (f"through {symptom.name}",))
                for later, steps in _downstream(symptom, symptoms)
            ]
            for path in paths:
                if path.weight > best.get(path.symptom, Link("", 0.0, ())).weight:
                    best[path.symptom] = path
        cause = ProbableCause(c.subject, c.layer.removeprefix("fingerprint."), c.detail, links=list(best.values()))
        cause.score = sum(k.weight * severity[k.symptom] for k in cause.links)
        if cause.links:
            causes.append(cause)
            explained.update(link.symptom for link in cause.links)
    causes.sort(key=_rank)
    unexplained = sorted(s.name for s in symptoms if s.name not in explained and not _upstream_of(s, symptoms))
    return CauseAnalysis(causes, unexplained)


def _upstream_of(symptom: Symptom, symptoms: Sequence[Symptom]) -> bool:
    """Whether a symptom further up (data for prediction, prediction or data for outcome) accounts for it."""
    return any(symptom in [s for s, _ in _downstream(up, symptoms)] for up in symptoms)


def _rank(cause: ProbableCause) -> tuple[float, int, int, str]:
    order = _DIMENSION_ORDER.index(cause.dimension) if cause.dimension in _DIMENSION_ORDER else len(_DIMENSION_ORDER)
    return (-cause.score, -len({k.symptom for k in cause.links}), order, cause.key)
