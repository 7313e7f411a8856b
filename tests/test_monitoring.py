"""Generated dashboards and alert rules: fresh, valid for promtool, linted, and naming only catalogued metrics."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, run_cli
from promql_names import PROMETHEUS_SERIES, compares_with_number, counters_read_by_rate, names

from envparity.agent.catalogue import CHECK_STATUS_VALUES, METRICS, series_names
from envparity.monitoring import dashboards, promql, rules

ALERTS_DIR = REPO / "alerts"
DASHBOARDS_DIR = REPO / "dashboards"
UNIT_TEST = ALERTS_DIR / "tests" / "envparity-alerts.test.yml"
RUNBOOK = REPO / "docs" / "runbooks.md"
VARIABLES = {
    "$service": "fraud",
    "$baseline": "production",
    "$target": "staging",
    "$__rate_interval": "1m",
    "${datasource}": "prometheus",
}


def substitute(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def dashboard_files() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel target."""
    return [
        (file, panel["title"], target["expr"])
        for file, board in dashboard_files().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


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
    rules.write(tmp_path, rules.RuleSettings(ticket_after="25m", production="prod"))
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


def test_fingerprint_drift_pages_only_for_production_targets() -> None:
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            if "fingerprint" in rule["expr"]:
                production = 'target=~"prod|production"' in rule["expr"]
                assert rule["labels"]["severity"] == ("critical" if production else "warning")


@pytest.mark.parametrize("source", ["dashboards", "rules"])
def test_queries_name_only_catalogued_metrics_and_labels(source: str) -> None:
    known = series_names()
    queries = [(f"{f}: {t}", e) for f, t, e in panel_queries()] if source == "dashboards" else rule_exprs()
    assert queries
    for where, expr in queries:
        metrics, labels = names(expr)
        assert metrics, f"{where}: no metric in {expr}"
        allowed = {"job", "instance", "le", "alertname", "alertstate"}
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
        if not m.name.startswith("DCGM_FI_"):
            assert m.name.startswith("envparity_"), m.name
        assert m.name.endswith("_total") == (m.type == "counter"), m.name
        if m.unit in ("seconds", "bytes"):
            assert m.name.endswith(f"_{m.unit}") or m.name.endswith(f"_{m.unit}_total"), m.name
        assert all(re.fullmatch(r"[a-z_]+", label) for label in m.labels), m.name


def test_dashboards_follow_the_linter_rules() -> None:
    counter_series = {s for s, m in series_names().items() if m.type in ("counter", "histogram")}
    boards = dashboard_files()
    assert {b["uid"] for b in boards.values()} == {f"envparity-{n}" for n in dashboards.BUILDERS}
    for file, board in boards.items():
        variables = board["templating"]["list"]
        assert [v["name"] for v in variables if v["type"] == "datasource"] == ["datasource"], file
        assert {"service", "baseline", "target"} <= {v["name"] for v in variables}, file
        kinds = {link["type"] for link in board["links"]}
        assert kinds == {"dashboards", "link"} and any("/report?" in link["url"] for link in board["links"]), file
        assert board["panels"], file
        for panel in board["panels"]:
            where = f"{file}: {panel.get('title')}"
            assert panel["title"] and panel["description"], where
            assert panel["fieldConfig"]["defaults"]["unit"], where
            assert panel["datasource"]["uid"] == "${datasource}", where
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", where
                assert counters_read_by_rate(target["expr"], counter_series), f"{where}: counter without rate()"


def test_linter_check_catches_a_bare_counter() -> None:
    counters = {"envparity_requests_total"}
    assert not counters_read_by_rate('envparity_requests_total{service="x"}', counters)
    assert not counters_read_by_rate("rate(envparity_requests_total[5m])", counters)
    assert counters_read_by_rate("rate(envparity_requests_total[$__rate_interval])", counters)


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    recording = [
        {"record": f"envparity:panel_{i}", "expr": substitute(expr)} for i, (_, _, expr) in enumerate(panel_queries())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": recording}]}))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "target=production", "alertname=EnvParityDataDriftCritical"], "pager"),
        (["severity=critical", "target=staging", "alertname=EnvParityDataDriftCritical"], "tickets"),
        (["severity=critical", "alertname=EnvParityCollectorDown"], "pager"),
        (["severity=warning", "target=production", "alertname=EnvParityPackageDrift"], "tickets"),
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


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/envparity.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    # the README tells where to mount dashboards/: the provider must read that folder
    assert f"`{provider['providers'][0]['options']['path']}`" in (REPO / "README.md").read_text()
    datasource = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/envparity.yml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
