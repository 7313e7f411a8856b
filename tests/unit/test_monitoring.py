"""Generated alert rules and dashboards: fresh, valid for promtool, naming only catalogued metrics; alerts that page
only for the environments that page, and routed on their severity. The dashboards' own tests are in
test_monitoring_dashboards.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dashboard_queries import DASHBOARDS_DIR, RUNBOOK, panel_queries
from helpers import REPO, run_cli
from promql_names import (
    PROMETHEUS_SERIES,
    compares_with_number,
    names,
)

from envparity.agent.catalogue import CHECK_STATUS_VALUES, METRICS, series_names
from envparity.monitoring import panels, promql, rules

ALERTS_DIR = REPO / "alerts"
UNIT_TEST = ALERTS_DIR / "tests" / "envparity-alerts.test.yml"


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load((ALERTS_DIR / rules.RULES_FILE).read_text())
    return [(r["alert"], r["expr"]) for g in groups["groups"] for r in g["rules"]]


def test_committed_files_are_fresh(tmp_path: Path) -> None:
    run_cli("dashboards", "build", "--out", str(tmp_path / "d"))
    run_cli("alerts", "build", "--out", str(tmp_path / "a"))
    for fresh, committed in ((tmp_path / "d", DASHBOARDS_DIR), (tmp_path / "a", ALERTS_DIR)):
        names_fresh = sorted(p.name for p in fresh.iterdir())
        assert names_fresh == sorted(p.name for p in committed.iterdir() if p.is_file()), "run envparity ... build"
        for name in names_fresh:
            assert (fresh / name).read_text() == (committed / name).read_text(), f"{committed / name} is stale"


def test_promtool_checks_the_rules() -> None:
    out = subprocess.run(["promtool", "check", "rules", str(ALERTS_DIR / rules.RULES_FILE)], capture_output=True)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_promtool_unit_tests_pass_and_fail_on_a_changed_rule(tmp_path: Path) -> None:
    out = subprocess.run(["promtool", "test", "rules", str(UNIT_TEST)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # the same unit tests against rules with another ticket wait and production pattern must fail
    (tmp_path / "tests").mkdir()
    rules.write(tmp_path, rules.RuleSettings(ticket_after="25m", paging_environments=("prod",)))
    (tmp_path / "tests" / UNIT_TEST.name).write_text(UNIT_TEST.read_text())
    out = subprocess.run(["promtool", "test", "rules", str(tmp_path / "tests" / UNIT_TEST.name)], capture_output=True)
    assert out.returncode != 0


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    tests = yaml.safe_load(UNIT_TEST.read_text())["tests"]
    firing, quiet = set(), set()
    for group in tests:
        for case in group["alert_rule_test"]:
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(rules.alert_names(rules.rule_groups()))
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


def test_alerts_follow_the_mixin_conventions() -> None:
    groups = rules.rule_groups()
    runbook = RUNBOOK.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", runbook, flags=re.M | re.S))
    for group in groups["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            assert re.fullmatch(r"EnvParity[A-Z][A-Za-z0-9]+", name)
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            annotations = rule["annotations"]
            assert "{{" not in annotations["summary"] and annotations["summary"].endswith(".")
            assert "$labels" in annotations["description"], name
            if rule["expr"].startswith(("envparity_check_value", "time()")):  # a measured value: say it
                assert "$value" in annotations["description"], name
            assert annotations["runbook_url"].endswith("#" + name.lower())
            assert name in sections, f"docs/runbooks.md lacks a section for {name}"
            for part in ("Meaning", "Impact", "Diagnosis", "Mitigation"):
                assert f"**{part}**" in sections[name], f"{name}: runbook lacks {part}"


def test_runbooks_state_each_alerts_severity() -> None:
    runbook = RUNBOOK.read_text()
    introduction = runbook.split("\n## ")[0]
    assert all(f"`{env}`" in introduction for env in rules.PAGING_ENVIRONMENTS), "list the paging environments"
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", runbook, flags=re.M | re.S))
    split = by_environment()
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            found = re.search(r"\*\*Severity\*\*: (.*?)\n- \*\*", sections[rule["alert"]], flags=re.S)
            assert found, f"{rule['alert']}: runbook states no severity"
            if rule["alert"] in split:
                assert "paging environment" in found.group(1), rule["alert"]
            assert rule["labels"]["severity"] in found.group(1), rule["alert"]


def test_alerts_follow_the_collectors_verdict_not_a_copied_threshold() -> None:
    exprs = rule_exprs()
    copied = [(alert, expr) for alert, expr in exprs if compares_with_number(expr, "envparity_check_value")]
    assert copied == [], "compare envparity_check_status instead: the collector's thresholds file decides"
    # every alert on a check's value keeps it only while the check's status says so
    for alert, expr in exprs:
        if "envparity_check_value" in expr:
            assert "envparity_check_status" in expr, alert


def test_copied_threshold_checker_catches_one() -> None:
    value = "envparity_check_value"
    assert compares_with_number(f'{value}{{check="latency_p99_ratio"}} > 1.2', value)
    assert compares_with_number(f'0.98 > max by (service) ({value}{{check="shadow_agreement"}})', value)
    assert compares_with_number(f"({value} < bool .98) and on (subject) envparity_check_status == 2", value)
    assert not compares_with_number(promql.value_while(promql.check("shadow_agreement"), "== 2"), value)


def test_the_exporter_writes_the_catalogued_status_values() -> None:
    from envparity.collector.exporter.parity import STATUS_VALUE

    assert STATUS_VALUE == CHECK_STATUS_VALUES


def test_queries_name_checks_and_layers_of_the_collector() -> None:
    assert promql.check("latency_p99_ratio") == 'layer="infrastructure", check="latency_p99_ratio"'
    assert promql.checks(promql.judged_like("latency_p99_ratio")) == (
        'check=~"latency_p50_ratio|latency_p95_ratio|latency_p99_ratio"'
    )
    with pytest.raises(KeyError, match="latency_p99"):
        promql.check("latency_p99")
    with pytest.raises(ValueError, match="psi"):
        promql.check("psi")  # in data and prediction: the layer must be named
    with pytest.raises(KeyError, match=r"fingerprint\.codes"):
        promql.layer("fingerprint.codes")
    with pytest.raises(KeyError, match="envparity_check_values"):
        promql.select("envparity_check_values")


def by_environment() -> dict[str, str]:
    """Each alert whose severity follows an environment, with the label naming it (``target`` or ``environment``)."""
    split = {}
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            for label in ("target", "environment"):
                if f'{label}=~"' in rule["expr"] or f'{label}!~"' in rule["expr"]:
                    split[rule["alert"]] = label
    return split


def test_severity_follows_the_environment_the_alert_concerns() -> None:
    paging = rules.RuleSettings().paging
    assert paging == "production|prod|prd|live"
    split = by_environment()
    kept = {"EnvParityDataDriftWarning", "EnvParityEvaluationStalled", "EnvParityCollectorDown"}
    assert set(split) == set(rules.alert_names(rules.rule_groups())) - kept
    severities: dict[str, dict[str, str]] = {}
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            if rule["alert"] in split:
                label, severity = split[rule["alert"]], rule["labels"]["severity"]
                matcher = f'{label}=~"{paging}"' if severity == "critical" else f'{label}!~"{paging}"'
                assert matcher in rule["expr"], rule["alert"]
                severities.setdefault(rule["alert"], {})[severity] = rule["expr"].replace(matcher, "")
    # two rules per alert that differ only in the environment's matcher
    for alert, exprs in severities.items():
        assert set(exprs) == {"critical", "warning"}, alert
        assert exprs["critical"] == exprs["warning"], alert


def test_unit_tests_page_for_paging_environments_only() -> None:
    """Each alert that follows an environment is tested critical and warning; staging against production never pages."""
    split = by_environment()
    expected: dict[str, list[dict[str, str]]] = {alert: [] for alert in split}
    for group in yaml.safe_load(UNIT_TEST.read_text())["tests"]:
        for case in group["alert_rule_test"]:
            if case["alertname"] in split:
                expected[case["alertname"]] += [a["exp_labels"] for a in case.get("exp_alerts") or []]
    paging = rules.PAGING_ENVIRONMENTS
    for alert, label in split.items():
        for labels in expected[alert]:
            assert labels["severity"] == ("critical" if labels[label] in paging else "warning"), (alert, labels)
        assert {labels["severity"] for labels in expected[alert]} == {"critical", "warning"}, alert
        if label == "target":
            assert any(
                labels["baseline"] == "production" and labels["target"] == "staging" for labels in expected[alert]
            ), f"{alert}: no case of a staging target against a production baseline"


def test_paging_environments_are_set_on_the_command_line(tmp_path: Path) -> None:
    out = run_cli(
        "alerts", "build", "--out", str(tmp_path), "--paging-environment", "prd", "--paging-environment", "live"
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / rules.RULES_FILE).read_text()
    assert 'target=~"prd|live"' in text and 'environment!~"prd|live"' in text and "production" not in text


@pytest.mark.parametrize("source", ["dashboards", "rules"])
def test_queries_name_only_catalogued_metrics_and_labels(source: str) -> None:
    known = series_names()
    queries = [(f"{f}: {t}", e) for f, t, e in panel_queries()] if source == "dashboards" else rule_exprs()
    assert queries
    for where, expr in queries:
        metrics, labels = names(expr)
        assert metrics, f"{where}: no metric in {expr}"
        allowed = {"job", "instance", "le", "alertname", "alertstate", *panels.TOPOLOGY}
        for metric in metrics:
            assert metric in known or metric in PROMETHEUS_SERIES, f"{where}: {metric} is not in the catalogue"
            allowed |= set(known[metric].labels) if metric in known else PROMETHEUS_SERIES[metric]
        assert labels <= allowed | {"service", "target", "subject"}, f"{where}: unknown labels {labels - allowed}"


def test_catalogue_checker_catches_a_stranger() -> None:
    metrics, labels = names('sum by (pod) (rate(envparity_requests_total{service="x"}[$__rate_interval]))')
    assert metrics == {"envparity_requests_total"} and labels == {"pod", "service"}
    assert "envparity_requestz_total" not in series_names()


def test_catalogue_names_follow_prometheus_conventions() -> None:
    for m in METRICS:
        if m.name.startswith("DCGM_FI_"):  # dcgm-exporter's names and types: its counters are the ECC totals
            assert m.name.endswith("_VOL_TOTAL") == (m.type == "counter"), m.name
        else:
            assert m.name.startswith("envparity_"), m.name
            assert m.name.endswith("_total") == (m.type == "counter"), m.name
        if m.unit in ("seconds", "bytes"):
            assert m.name.endswith(f"_{m.unit}") or m.name.endswith(f"_{m.unit}_total"), m.name
        assert all(re.fullmatch(r"[a-z_]+", label) for label in m.labels), m.name


def test_alertmanager_routes_on_the_severity_alone() -> None:
    """The rules decide where an environment pages; a second list of environments in Alertmanager would drift."""
    config = yaml.safe_load((REPO / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    matchers = [m for route in config["route"]["routes"] for m in route["matchers"]]
    assert matchers and all(m.startswith("severity=") for m in matchers), matchers


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "target=production", "alertname=EnvParityDataDriftCritical"], "pager"),
        (["severity=warning", "target=staging", "alertname=EnvParityDataDriftCritical"], "tickets"),
        # the rules decide the severity from the paging environments: Alertmanager does not second-guess it
        (["severity=critical", "target=live", "alertname=EnvParityPackageDrift"], "pager"),
        (["severity=critical", "environment=prd", "alertname=EnvParityAgentAbsent"], "pager"),
        (["severity=warning", "environment=staging", "alertname=EnvParityGpuLost"], "tickets"),
        (["severity=critical", "alertname=EnvParityCollectorDown"], "pager"),
        (["severity=warning", "alertname=EnvParityEvaluationStalled"], "tickets"),
        (["severity=info", "alertname=EnvParityAnything"], "blackhole"),
    ],
)
def test_example_alertmanager_routes(labels: list[str], receiver: str) -> None:
    config = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
    assert subprocess.run(["amtool", "check-config", str(config)], capture_output=True).returncode == 0
    out = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", *labels], capture_output=True, text=True
    )
    assert out.stdout.strip() == receiver, out.stdout + out.stderr


def test_deploy_prometheus_config_is_valid() -> None:
    config = REPO / "deploy" / "prometheus" / "prometheus.yml"
    out = subprocess.run(["promtool", "check", "config", "--syntax-only", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    scraped = yaml.safe_load(config.read_text())["scrape_configs"]
    assert rules.RuleSettings().collector_job in {job["job_name"] for job in scraped}
