"""Prometheus alert rules for envparity: every alert fires on the collector's verdict, never on a copied threshold.

Conventions (monitoring-mixins): alert names are CamelCase with the prefix
``EnvParity``; ``severity`` is ``critical`` (pages), ``warning`` (opens a ticket)
or ``info`` (not routed); ``summary`` is a static sentence, ``description`` is
templated with the labels and the measured value, and ``runbook_url`` points at
the alert's section of ``docs/runbooks.md``. A check alert compares
``envparity_check_status`` (the collector's status, decided by the thresholds
file it reads) and shows ``envparity_check_value`` in its description, so that a
threshold changed for a service changes its alerts too. Drift alerts keep the
``service``, ``baseline``, ``target`` and ``subject`` (feature, package, config
key, artifact) labels, so Alertmanager deduplicates and groups by service and
artifact. The drift, prediction and outcome alerts end their description with the
pair's most likely cause, asked of Prometheus when the alert fires
(``envparity_probable_cause`` at rank 1); without one they say nothing more.

Severity follows the environment an alert concerns: the ``target`` of a pair,
the ``environment`` of an agent or a GPU. Each such alert is two rules of one
name, ``critical`` where that label names a paging environment
(``RuleSettings.paging_environments``, by default the collector's own list,
``parity.pairs.PAGING_ENVIRONMENTS``) and ``warning`` elsewhere, so a drift of
staging against production opens a ticket and the same drift of production
pages. Two kinds keep one severity: ``DataDriftWarning``, the ticket tier below
``DataDriftCritical``, and the collector's own health (``EvaluationStalled``,
``CollectorDown``), which concerns no environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envparity.collector.parity.check_specs import check_spec
from envparity.collector.parity.pairs import PAGING_ENVIRONMENTS as PAGING_ENVIRONMENTS  # the collector's list
from envparity.monitoring.promql import (
    FAILING,
    FINGERPRINT_LAYERS,
    PAIR_BY,
    WARN,
    check,
    checks,
    collector_up,
    layer,
    one_of,
    select,
    value_while,
)

PREFIX = "EnvParity"
RULES_FILE = "envparity-alerts.yml"
DEFAULT_RUNBOOK = "https://github.com/envparity/envparity/blob/main/docs/runbooks.md"
CRITICAL, WARNING = "critical", "warning"
# the distribution checks that can fail a prediction or confidence distribution, and those two subjects
_PREDICTION_DRIFT = ("psi", "wasserstein", "ks", "chi2")
_PREDICTION_SUBJECTS = ("prediction", "confidence")

Where = Callable[[str], str]  # an expression built around extra matchers (the environment's, say)


@dataclass(frozen=True)
class RuleSettings:
    """What the generated rules depend on; the committed files use the defaults."""

    ticket_after: str = "15m"  # a drift above the warn threshold this long opens a ticket
    page_after: str = "30m"  # a failing drift this long raises its alert
    fingerprint_after: str = "5m"  # fingerprints are exact: a short wait rides out a rolling deploy
    absent_after: str = "10m"  # an agent silent this long, an evaluation stalled this long
    agent_silent_s: int = 600
    evaluation_stalled_s: int = 600
    paging_environments: tuple[str, ...] = PAGING_ENVIRONMENTS  # where an alert pages; elsewhere it opens a ticket
    collector_job: str = "envparity-collector"
    runbook: str = DEFAULT_RUNBOOK

    @property
    def paging(self) -> str:
        """The paging environments as one regex; PromQL anchors ``=~`` at both ends, so ``prod`` misses ``preprod``."""
        return one_of(self.paging_environments)

    def runbook_url(self, alert: str) -> str:
        """The link to ``alert``'s section of the runbooks (its heading's anchor)."""
        return f"{self.runbook}#{alert.lower()}"


def _alert(
    s: RuleSettings, name: str, expr: str, wait: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": f"{PREFIX}{name}",
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": s.runbook_url(PREFIX + name),
        },
    }


def _by_environment(
    s: RuleSettings, label: str, name: str, expr: Where, wait: str, summary: str, description: str
) -> list[dict[str, Any]]:
    """The alert as two rules: ``critical`` where ``label`` names a paging environment, ``warning`` elsewhere."""
    return [
        _alert(s, name, expr(f'{label}{match}"{s.paging}"'), wait, severity, summary, description)
        for severity, match in ((CRITICAL, "=~"), (WARNING, "!~"))
    ]


def _failing_value(matchers: str) -> Where:
    """A check's measured value while the collector fails it, narrowed by the matchers given later."""
    return lambda where: value_while(f"{matchers}, {where}", FAILING)


_PAIR_TEXT = "{{ $labels.service }}: {{ $labels.target }} against {{ $labels.baseline }}"


def _top_cause() -> str:
    """A description's last sentence: the pair's rank-1 probable cause, read with the template's ``query``."""
    cause = select("envparity_probable_cause", "service=%q, baseline=%q, target=%q, rank='1'")
    return (
        f'{{{{ with printf "{cause}" $labels.service $labels.baseline $labels.target | query }}}}'
        "{{ with first . }} Probable cause: {{ .Labels.cause }} ({{ .Labels.dimension }}).{{ end }}{{ end }}"
    )


_CAUSE = _top_cause()


def _prediction_drift(where: str) -> str:
    """The prediction's PSI while any distribution check of the prediction or the confidence fails."""
    distributions = f'{layer("prediction")}, {checks(_PREDICTION_DRIFT)}, subject=~"{one_of(_PREDICTION_SUBJECTS)}"'
    return (
        f"{select('envparity_check_value', check('psi', 'prediction'))} and on ({PAIR_BY}, subject) "
        f"max by ({PAIR_BY}, subject) ({select('envparity_check_status', f'{distributions}, {where}')}) {FAILING}"
    )


def _schema_mismatch(where: str) -> str:
    schema = check("schema")
    return f"{select('envparity_check_status', f'{schema}, {where}')} {FAILING}"


def _drift_rules(s: RuleSettings) -> list[dict[str, Any]]:
    psi = check("psi", "data")
    return [
        _alert(
            s,
            "DataDriftWarning",
            value_while(psi, f">= {WARN}"),
            s.ticket_after,
            WARNING,
            "A feature's distribution drifted above the PSI warn threshold.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}.{_CAUSE}',
        ),
        *_by_environment(
            s,
            "target",
            "DataDriftCritical",
            _failing_value(psi),
            s.page_after,
            "A feature's distribution drifted beyond the PSI fail threshold for a sustained period.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}, '
            f"significant after correction for the features tested.{_CAUSE}",
        ),
        *_by_environment(
            s,
            "target",
            "PredictionDrift",
            _prediction_drift,
            s.page_after,
            "The model's predictions are distributed differently in the target than in the baseline.",
            f'{_PAIR_TEXT}: {{{{ $labels.subject }}}} distribution drifted (PSI {{{{ $value | printf "%.3f" }}}}).'
            f"{_CAUSE}",
        ),
        *_by_environment(
            s,
            "target",
            "OutcomeDrop",
            _failing_value(check("f1")),
            s.page_after,
            "The model's F1 on labelled outcomes is lower in the target than in the baseline by more than "
            f"`{check_spec('f1').threshold}`.",
            f'{_PAIR_TEXT}: F1 {{{{ $value | printf "%.3f" }}}} in the target.{_CAUSE}',
        ),
        *_by_environment(
            s,
            "target",
            "SchemaMismatch",
            _schema_mismatch,
            s.ticket_after,
            "A feature is missing, new or of another type in the target.",
            f"{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} differs in schema.",
        ),
    ]


_DIMENSIONS = {
    "fingerprint.code": ("PackageDrift", "Installed packages or the interpreter differ between target and baseline."),
    "fingerprint.config": ("ConfigDrift", "Configuration differs between target and baseline."),
    "fingerprint.artifacts": ("ArtifactDrift", "The model artifacts or aliases differ between target and baseline."),
    "fingerprint.compute": ("ComputeDrift", "The GPUs or compute stack differ between target and baseline."),
}


def _fingerprint_differs(dimension: str) -> Where:
    """Each differing subject of a fingerprint dimension, once (a subject may fail several checks)."""
    return lambda where: (
        f"max by ({PAIR_BY}, layer, subject) ({select('envparity_check_status', f'{layer(dimension)}, {where}')}) "
        f"{FAILING}"
    )


def _fingerprint_rules(s: RuleSettings) -> list[dict[str, Any]]:
    """One alert per fingerprint dimension of the model (a dimension without an alert is a ``KeyError``)."""
    rules = []
    for dimension in FINGERPRINT_LAYERS:
        name, summary = _DIMENSIONS[dimension]
        rules += _by_environment(
            s,
            "target",
            name,
            _fingerprint_differs(dimension),
            s.fingerprint_after,
            summary,
            f"{_PAIR_TEXT}: {{{{ $labels.subject }}}} differs ({{{{ $labels.layer }}}}).",
        )
    return rules


def _serving_rules(s: RuleSettings) -> list[dict[str, Any]]:
    return [
        *_by_environment(
            s,
            "target",
            "LatencyP99Ratio",
            _failing_value(check("latency_p99_ratio")),
            s.ticket_after,
            f"The target's p99 latency ratio to the baseline fails `{check_spec('latency_p99_ratio').threshold}`.",
            f'{_PAIR_TEXT}: p99 latency ratio {{{{ $value | printf "%.2f" }}}}.',
        ),
        *_by_environment(
            s,
            "target",
            "ErrorRateParity",
            _failing_value(check("error_rate")),
            s.ticket_after,
            "The target fails more requests than the baseline.",
            f"{_PAIR_TEXT}: error rate {{{{ $value | humanizePercentage }}}} in the target.",
        ),
        *_by_environment(
            s,
            "target",
            "ShadowAgreementLow",
            _failing_value(check("shadow_agreement")),
            s.ticket_after,
            "Shadow traffic: the target's agreement with the baseline fails "
            f"`{check_spec('shadow_agreement').threshold}`.",
            f"{_PAIR_TEXT}: {{{{ $value | humanizePercentage }}}} of shadowed requests agree.{_CAUSE}",
        ),
        *_by_environment(
            s,
            "environment",
            "GpuLost",
            lambda where: f"{select('envparity_gpu_lost', where)} == 1",
            s.fingerprint_after,
            "A GPU stopped answering NVML.",
            "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) of {{ $labels.service }}/{{ $labels.environment }} "
            "on {{ $labels.hostname }} is lost.",
        ),
    ]


def _health_rules(s: RuleSettings) -> list[dict[str, Any]]:
    up = collector_up(s.collector_job)
    return [
        *_by_environment(
            s,
            "environment",
            "AgentAbsent",
            lambda where: (
                f"time() - {select('envparity_environment_last_snapshot_timestamp_seconds', where)} "
                f"> {s.agent_silent_s}"
            ),
            s.absent_after,
            "No agent of an environment has sent a snapshot recently.",
            "{{ $labels.service }}/{{ $labels.environment }}: last snapshot {{ $value | humanizeDuration }} ago.",
        ),
        _alert(
            s,
            "EvaluationStalled",
            f"time() - {select('envparity_evaluation_last_success_timestamp_seconds')} > {s.evaluation_stalled_s}",
            s.absent_after,
            WARNING,
            "The collector has not finished a parity evaluation recently.",
            "Collector {{ $labels.instance }}: last evaluation finished {{ $value | humanizeDuration }} ago.",
        ),
        _alert(
            s,
            "CollectorDown",
            f"{up} == 0 or absent({up})",
            "5m",
            CRITICAL,
            "Prometheus cannot scrape the envparity collector.",
            "Prometheus job {{ $labels.job }} has no reachable collector"
            "{{ if $labels.instance }} ({{ $labels.instance }}){{ end }}.",
        ),
    ]


def rule_groups(settings: RuleSettings | None = None) -> dict[str, Any]:
    """The rule file's content: one group per concern."""
    s = settings or RuleSettings()
    return {
        "groups": [
            {"name": "envparity-drift", "rules": _drift_rules(s)},
            {"name": "envparity-fingerprint", "rules": _fingerprint_rules(s)},
            {"name": "envparity-serving", "rules": _serving_rules(s)},
            {"name": "envparity-health", "rules": _health_rules(s)},
        ]
    }


def alert_names(groups: dict[str, Any]) -> list[str]:
    """Every distinct alert name, in file order."""
    names = [r["alert"] for g in groups["groups"] for r in g["rules"]]
    return list(dict.fromkeys(names))


def render(settings: RuleSettings | None = None) -> str:
    header = "# Generated by `envparity alerts build`; do not edit by hand.\n"
    return header + yaml.safe_dump(rule_groups(settings), sort_keys=False, width=120)


def write(out: Path, settings: RuleSettings | None = None) -> list[Path]:
    """Write the rule file into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RULES_FILE
    path.write_text(render(settings))
    return [path]
