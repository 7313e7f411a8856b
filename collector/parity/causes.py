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
   at half the weight per step. A data symptom leads to the model's outputs
   (``prediction``, ``confidence``) and to its own subject in the prediction layer (a
   feature that differs per shadowed request), not to other features there.
3. A cause's score is the sum, over the symptoms it explains, of its strongest link
   to that symptom (direct or through an upstream symptom) x the symptom's severity
   (fail 1, warn 0.5). Causes are ranked by score, then by the number of symptoms,
   then by dimension (artifacts, config, code, compute) and key.
4. A symptom that no cause explains and that no upstream symptom accounts for is
   listed as unexplained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from envparity.collector.parity.model import Check

LINEAGE_WEIGHT = 3.0
TIME_WEIGHT = 2.0
STRUCTURE_WEIGHT = 1.0
STEP_DECAY = 0.5
SEVERITY = {"fail": 1.0, "warn": 0.5}
HORIZON = timedelta(hours=24)
_DIMENSION_ORDER = ("artifacts", "config", "code", "compute")
_EXPLAINS: dict[str, frozenset[str]] = {
    "code": frozenset({"data", "prediction", "infrastructure"}),
    "config": frozenset({"data", "prediction", "infrastructure"}),
    "artifacts": frozenset({"data", "prediction"}),
    "compute": frozenset({"infrastructure", "prediction"}),
}
_DOWNSTREAM = {"data": ("prediction", "outcome"), "prediction": ("outcome",)}
_SYMPTOM_LAYERS = ("infrastructure", "data", "prediction", "outcome")
_OUTPUTS = frozenset({"prediction", "confidence"})  # the model's outputs among the prediction layer's subjects
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


class Link(BaseModel):
    """Why a cause explains a symptom: the evidence and the weight it adds up to."""

    model_config = ConfigDict(frozen=True)

    symptom: str
    weight: float
    evidence: tuple[str, ...]


class ProbableCause(BaseModel):
    """One difference between the environments, the symptoms it explains and its score."""

    model_config = ConfigDict(frozen=True)

    key: str
    dimension: str
    detail: str
    score: float
    explains: list[Link]

    @property
    def symptoms(self) -> list[str]:
        return [link.symptom for link in self.explains]


class CauseAnalysis(BaseModel):
    """The ranked causes, the symptoms nothing explains, and since when each symptom fails."""

    model_config = ConfigDict(frozen=True)

    causes: list[ProbableCause]
    symptoms: list[str]  # every failing symptom, ``layer:subject``
    unexplained: list[str]
    # symptom -> the first evaluation of its current failing streak (what the next evaluation continues)
    failing_since: dict[str, datetime] = Field(default_factory=dict)


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
        evidence.append(f"structure: a difference of {dimension} can change {symptom.layer}")
    if weight == 0 or (weight == STRUCTURE_WEIGHT and lineage.get(symptom.subject)):
        return None  # no evidence, or only structure where the policy file names what the subject depends on
    return Link(symptom=symptom.name, weight=weight, evidence=tuple(evidence))


def _downstream(symptom: Symptom, symptoms: Sequence[Symptom]) -> list[tuple[Symptom, int]]:
    """Symptoms that ``symptom`` leads to, with the number of steps (data -> prediction -> outcome)."""
    layers = _DOWNSTREAM.get(symptom.layer, ())
    return [
        (s, layers.index(s.layer) + 1)
        for s in symptoms
        if s.layer in layers and (s.layer != "prediction" or s.subject in _OUTPUTS or s.subject == symptom.subject)
    ]


def rank_causes(
    checks: Sequence[Check],
    lineage: Mapping[str, Sequence[str]] | None = None,
    changed_at: Mapping[str, datetime] | None = None,
    first_failed: Mapping[str, datetime] | None = None,
    horizon: timedelta = HORIZON,
) -> CauseAnalysis:
    """Rank the failing fingerprint differences in ``checks`` by the symptoms they explain (rule above).

    ``lineage`` maps a subject (a feature, ``prediction``) to the cause keys it depends on;
    ``changed_at`` maps a cause key to when its value last changed; ``first_failed``
    maps a symptom name (``layer:subject``) to the first evaluation in which it failed.
    """
    lineage, changed_at, first_failed = lineage or {}, changed_at or {}, first_failed or {}
    symptoms = symptoms_of(checks)
    severity = {s.name: SEVERITY[s.status] for s in symptoms}
    causes = []
    for c in checks:
        if not c.layer.startswith("fingerprint.") or c.status not in SEVERITY:
            continue
        best: dict[str, Link] = {}  # the strongest link to each symptom, direct or through an upstream one
        for symptom in symptoms:
            link = _link(c, symptom, lineage, changed_at, first_failed, horizon)
            if link is None:
                continue
            through = (f"downstream: through {symptom.name}",)
            paths = [link] + [
                Link(symptom=later.name, weight=link.weight * STEP_DECAY**steps, evidence=through)
                for later, steps in _downstream(symptom, symptoms)
            ]
            for path in paths:
                if path.symptom not in best or path.weight > best[path.symptom].weight:
                    best[path.symptom] = path
        if best:
            links = sorted(best.values(), key=lambda k: (-k.weight, k.symptom))
            score = round(sum(k.weight * severity[k.symptom] for k in links), 3)
            dimension = c.layer.removeprefix("fingerprint.")
            causes.append(
                ProbableCause(key=c.subject, dimension=dimension, detail=c.detail, score=score, explains=links)
            )
    causes.sort(key=_rank)
    explained = {name for cause in causes for name in cause.symptoms}
    unexplained = sorted(s.name for s in symptoms if s.name not in explained and not _upstream_of(s, symptoms))
    since = {s.name: first_failed[s.name] for s in symptoms if s.name in first_failed}
    return CauseAnalysis(
        causes=causes, symptoms=[s.name for s in symptoms], unexplained=unexplained, failing_since=since
    )


def _upstream_of(symptom: Symptom, symptoms: Sequence[Symptom]) -> bool:
    """Whether a symptom further up (data for prediction, prediction or data for outcome) accounts for it."""
    return any(symptom in [s for s, _ in _downstream(up, symptoms)] for up in symptoms)


def _rank(cause: ProbableCause) -> tuple[float, int, int, str]:
    order = _DIMENSION_ORDER.index(cause.dimension) if cause.dimension in _DIMENSION_ORDER else len(_DIMENSION_ORDER)
    return (-cause.score, -len(cause.explains), order, cause.key)
