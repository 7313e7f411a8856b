"""Prometheus alert rules for envparity, generated so that every expression names catalogued metrics only.

Conventions (monitoring-mixins): alert names are CamelCase with the prefix
``EnvParity``; ``severity`` is ``critical`` (pages), ``warning`` (opens a ticket)
or ``info`` (not routed); ``summary`` is a static sentence, ``description`` is
templated with the labels and the measured value, and ``runbook_url`` points at
the alert's section of ``docs/runbooks.md``. Drift alerts keep the ``service``,
``baseline``, ``target`` and ``subject`` (feature, package, config key,
artifact) labels, so Alertmanager deduplicates and groups by service and
artifact. Fingerprint drift pages only when the target matches the production
pattern; every other target gets a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PREFIX = "EnvParity"
RULES_FILE = "envparity-alerts.yml"
DEFAULT_RUNBOOK = "https://github.com/envparity/envparity/blob/main/docs/runbooks.md"
PAIR_BY = "service, baseline, target"
CHECK_BY = f"{PAIR_BY}, layer, check, subject"


@dataclass(frozen=True)
class RuleSettings:
    """What the generated rules depend on; the committed files use the defaults."""

    ticket_after: str = "15m"  # a drift above the warn threshold this long opens a ticket
    page_after: str = "30m"  # a failing drift this long pages
    fingerprint_after: str = "5m"  # fingerprints are exact: a short wait rides out a rolling deploy
    absent_after: str = "10m"  # an agent silent this long, an evaluation stalled this long
    agent_silent_s: int = 600
    evaluation_stalled_s: int = 600
    latency_ratio: float = 1.2
    shadow_agreement: float = 0.98
    production: str = "prod|production"  # regex of target environments where fingerprint drift pages
    collector_job: str = "envparity-collector"
    runbook: str = DEFAULT_RUNBOOK


def _check(layer: str, check: str, extra: str = "") -> str:
    return f'layer="{layer}", check="{check}"{extra}'


def _value_when(selector: str, status: str) -> str:
    """The check's value, kept only while its status satisfies ``status`` (e.g. ``== 2``)."""
    return f"envparity_check_value{{{selector}}} and on ({CHECK_BY}) envparity_check_status{{{selector}}} {status}"


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
    psi = _check("data", "psi")
    prediction = 'layer="prediction", subject=~"prediction|confidence"'
    return [
        _alert(
            s,
            "DataDriftWarning",
            _value_when(psi, ">= 1"),
            s.ticket_after,
            "warning",
            "A feature's distribution drifted above the PSI warn threshold.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}.',
        ),
        _alert(
            s,
            "DataDriftCritical",
            _value_when(psi, "== 2"),
            s.page_after,
            "critical",
            "A feature's distribution drifted beyond the PSI fail threshold for a sustained period.",
            f'{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} has PSI {{{{ $value | printf "%.3f" }}}}, '
            "significant after correction for the features tested.",
        ),
        _alert(
            s,
            "PredictionDrift",
            f"envparity_check_value{{{_check('prediction', 'psi')}}} and on ({PAIR_BY}, subject) "
            f"max by ({PAIR_BY}, subject) (envparity_check_status{{{prediction}}}) == 2",
            s.page_after,
            "critical",
            "The model's predictions are distributed differently in the target than in the baseline.",
            f'{_PAIR_TEXT}: {{{{ $labels.subject }}}} distribution drifted (PSI {{{{ $value | printf "%.3f" }}}}).',
        ),
        _alert(
            s,
            "SchemaMismatch",
            f"envparity_check_status{{{_check('data', 'schema')}}} == 2",
            s.ticket_after,
            "warning",
            "A feature is missing, new or of another type in the target.",
            f"{_PAIR_TEXT}: feature {{{{ $labels.subject }}}} differs in schema.",
        ),
    ]


_DIMENSIONS = (
    ("PackageDrift", "fingerprint.code", "Installed packages or the interpreter differ between target and baseline."),
    ("ConfigDrift", "fingerprint.config", "Configuration differs between target and baseline."),
    ("ArtifactDrift", "fingerprint.artifacts", "The model artifacts or aliases differ between target and baseline."),
    ("ComputeDrift", "fingerprint.compute", "The GPUs or compute stack differ between target and baseline."),
)


def _fingerprint_rules(s: RuleSettings) -> list[dict[str, Any]]:
    rules = []
    for name, layer, summary in _DIMENSIONS:
        for severity, match in (("critical", "=~"), ("warning", "!~")):
            selector = f'layer="{layer}", target{match}"{s.production}"'
            rules.append(
                _alert(
                    s,
                    name,
                    f"max by ({PAIR_BY}, layer, subject) (envparity_check_status{{{selector}}}) == 2",
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
            f"envparity_check_value{{{_check('infrastructure', 'latency_p99_ratio')}}} > {s.latency_ratio}",
            s.ticket_after,
            "warning",
            f"The target's p99 latency is more than {s.latency_ratio} times the baseline's.",
            f'{_PAIR_TEXT}: p99 latency ratio {{{{ $value | printf "%.2f" }}}}.',
        ),
        _alert(
            s,
            "ErrorRateParity",
            _value_when(_check("infrastructure", "error_rate"), "== 2"),
            s.ticket_after,
            "critical",
            "The target fails more requests than the baseline.",
            f"{_PAIR_TEXT}: error rate {{{{ $value | humanizePercentage }}}} in the target.",
        ),
        _alert(
            s,
            "ShadowAgreementLow",
            f"envparity_check_value{{{_check('prediction', 'shadow_agreement')}}} < {s.shadow_agreement}",
            s.ticket_after,
            "critical",
            f"Shadow traffic: the target agrees with the baseline on fewer than {s.shadow_agreement:.0%} of requests.",
            f"{_PAIR_TEXT}: {{{{ $value | humanizePercentage }}}} of shadowed requests agree.",
        ),
        _alert(
            s,
            "GpuLost",
            "envparity_gpu_lost == 1",
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
            f"time() - envparity_environment_last_snapshot_timestamp_seconds > {s.agent_silent_s}",
            s.absent_after,
            "warning",
            "No agent of an environment has sent a snapshot recently.",
            "{{ $labels.service }}/{{ $labels.environment }}: last snapshot {{ $value | humanizeDuration }} ago.",
        ),
        _alert(
            s,
            "EvaluationStalled",
            f"time() - envparity_evaluation_last_success_timestamp_seconds > {s.evaluation_stalled_s}",
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
