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
artifact. Fingerprint drift pages only when the target matches the production
pattern; every other target gets a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envparity.collector.parity.check_specs import check_spec
from envparity.monitoring.promql import (
    FAILING,
    FINGERPRINT_LAYERS,
    PAIR_BY,
    WARN,
    check,
    checks,
    layer,
    one_of,
    select,
    value_while,
)

PREFIX = "EnvParity"
RULES_FILE = "envparity-alerts.yml"
DEFAULT_RUNBOOK = "https://github.com/envparity/envparity/blob/main/docs/runbooks.md"
# the distribution checks that can fail a prediction or confidence distribution, and those two subjects
_PREDICTION_DRIFT = ("psi", "wasserstein", "ks", "chi2")
_PREDICTION_SUBJECTS = ("prediction", "confidence")


@dataclass(frozen=True)
class RuleSettings:
    """What the generated rules depend on; the committed files use the defaults."""

    ticket_after: str = "15m"  # a drift above the warn threshold this long opens a ticket
    page_after: str = "30m"  # a failing drift this long pages
    fingerprint_after: str = "5m"  # fingerprints are exact: a short wait rides out a rolling deploy
    absent_after: str = "10m"  # an agent silent this long, an evaluation stalled this long
    agent_silent_s: int = 600
    evaluation_stalled_s: int = 600
    production: str = "prod|production"  # regex of target environments where fingerprint drift pages
    collector_job: str = "envparity-collector"
    runbook: str = DEFAULT_RUNBOOK


def _alert(
    s: RuleSettings, name: str, expr: str, wait: str, severity: str, summary: str, description: str, **labels: str
) -> dict[str, Any]:
    return {
        "alert": f"{PREFIX}{name}",
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity, **labels},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{s.runbook}#{(PREFIX + name).lower()}",
        },
    }


_PAIR_TEXT = "{{ $labels.service }}: {{ $labels.target }} against {{ $labels.baseline }}"


def _drift_rules(s: RuleSettings) -> list[dict[str, Any]]:
    psi = check("psi", "data")
    prediction = f'{layer("prediction")}, {checks(_PREDICTION_DRIFT)}, subject=~"{one_of(_PREDICTION_SUBJECTS)}"'
    return [
        _alert(
            s,
            "DataDriftWarning",
            value_while(psi, f">= {WARN}"),
            s.ticket_after,
            "warning",
            "A feature's distribution drifted above the PSI warn threshold.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}.',
        ),
        _alert(
            s,
            "DataDriftCritical",
            value_while(psi, FAILING),
            s.page_after,
            "critical",
            "A feature's distribution drifted beyond the PSI fail threshold for a sustained period.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}, '
            "significant after correction for the features tested.",
        ),
        _alert(
            s,
            "PredictionDrift",
            f"{select('envparity_check_value', check('psi', 'prediction'))} and on ({PAIR_BY}, subject) "
            f"max by ({PAIR_BY}, subject) ({select('envparity_check_status', prediction)}) {FAILING}",
            s.page_after,
            "critical",
            "The model's predictions are distributed differently in the target than in the baseline.",
            f'{_PAIR_TEXT}: {{{{ $labels.subject }}}} distribution drifted (PSI {{{{ $value | printf "%.3f" }}}}).',
        ),
        _alert(
            s,
            "SchemaMismatch",
            f"{select('envparity_check_status', check('schema'))} {FAILING}",
            s.ticket_after,
            "warning",
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


def _fingerprint_rules(s: RuleSettings) -> list[dict[str, Any]]:
    """Two alerts per fingerprint dimension of the model (a dimension without an alert is a ``KeyError``)."""
    rules = []
    for dimension in FINGERPRINT_LAYERS:
        name, summary = _DIMENSIONS[dimension]
        for severity, match in (("critical", "=~"), ("warning", "!~")):
            selector = f'{layer(dimension)}, target{match}"{s.production}"'
            rules.append(
                _alert(
                    s,
                    name,
                    f"max by ({PAIR_BY}, layer, subject) ({select('envparity_check_status', selector)}) {FAILING}",
                    s.fingerprint_after,
                    severity,
                    summary,
                    f"{_PAIR_TEXT}: {{{{ $labels.subject }}}} differs ({{{{ $labels.layer }}}}).",
                )
            )
    return rules


def _serving_rules(s: RuleSettings) -> list[dict[str, Any]]:
    return [
        _alert(
            s,
            "LatencyP99Ratio",
            value_while(check("latency_p99_ratio"), FAILING),
            s.ticket_after,
            "warning",
            f"The target's p99 latency ratio to the baseline fails `{check_spec('latency_p99_ratio').threshold}`.",
            f'{_PAIR_TEXT}: p99 latency ratio {{{{ $value | printf "%.2f" }}}}.',
        ),
        _alert(
            s,
            "ErrorRateParity",
            value_while(check("error_rate"), FAILING),
            s.ticket_after,
            "critical",
            "The target fails more requests than the baseline.",
            f"{_PAIR_TEXT}: error rate {{{{ $value | humanizePercentage }}}} in the target.",
        ),
        _alert(
            s,
            "ShadowAgreementLow",
            value_while(check("shadow_agreement"), FAILING),
            s.ticket_after,
            "critical",
            "Shadow traffic: the target's agreement with the baseline fails "
            f"`{check_spec('shadow_agreement').threshold}`.",
            f"{_PAIR_TEXT}: {{{{ $value | humanizePercentage }}}} of shadowed requests agree.",
        ),
        _alert(
            s,
            "GpuLost",
            f"{select('envparity_gpu_lost')} == 1",
            s.fingerprint_after,
            "warning",
            "A GPU stopped answering NVML.",
            "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) of {{ $labels.service }}/{{ $labels.environment }} "
            "on {{ $labels.hostname }} is lost.",
        ),
    ]


def _health_rules(s: RuleSettings) -> list[dict[str, Any]]:
    up = f'up{{job="{s.collector_job}"}}'
    return [
        _alert(
            s,
            "AgentAbsent",
            f"time() - {select('envparity_environment_last_snapshot_timestamp_seconds')} > {s.agent_silent_s}",
            s.absent_after,
            "warning",
            "No agent of an environment has sent a snapshot recently.",
            "{{ $labels.service }}/{{ $labels.environment }}: last snapshot {{ $value | humanizeDuration }} ago.",
        ),
        _alert(
            s,
            "EvaluationStalled",
            f"time() - {select('envparity_evaluation_last_success_timestamp_seconds')} > {s.evaluation_stalled_s}",
            s.absent_after,
            "warning",
            "The collector has not finished a parity evaluation recently.",
            "Collector {{ $labels.instance }}: last evaluation finished {{ $value | humanizeDuration }} ago.",
        ),
        _alert(
            s,
            "CollectorDown",
            f"{up} == 0 or absent({up})",
            "5m",
            "critical",
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
