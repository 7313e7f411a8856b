"""Generated dashboards and alert rules: fresh, valid for promtool, linted, naming only catalogued metrics, and
paging only for the environments that page."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, run_cli
from promql_names import (
    PROMETHEUS_SERIES,
    compares_with_number,
    counters_read_by_rate,
    expect_samples,
    names,
    selectors,
)

from envparity.agent.catalogue import CHECK_STATUS_VALUES, METRICS, series_names
from envparity.monitoring import dashboards, grafana_schema, panels, promql, rules

ALERTS_DIR = REPO / "alerts"
DASHBOARDS_DIR = REPO / "dashboards"
UNIT_TEST = ALERTS_DIR / "tests" / "envparity-alerts.test.yml"
RUNBOOK = REPO / "docs" / "runbooks.md"
VARIABLES = {
    "$cluster": ".*",  # All, as the dashboards define it
    "$namespace": ".*",
    "$service": "fraud",
    "$baseline": "production",
    "$target": "staging",
    "$__rate_interval": "1m",
    "${datasource}": "prometheus",
}


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    for name, value in sorted({**VARIABLES, **(values or {})}.items(), key=lambda kv: -len(kv[0])):
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


def annotation_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, annotation name, expr) of every Prometheus annotation query."""
    return [
        (file, annotation["name"], annotation["target"]["expr"])
        for file, board in dashboard_files().items()
        for annotation in board["annotations"]["list"]
    ]


def panel(file: str, title: str) -> dict[str, Any]:
    return next(p for p in dashboard_files()[file]["panels"] if p["title"] == title)


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
        assert {"cluster", "namespace", "service", "baseline", "target"} <= {v["name"] for v in variables}, file
        for annotation in board["annotations"]["list"]:
            assert annotation["datasource"]["uid"] == "${datasource}", file
            assert counters_read_by_rate(annotation["target"]["expr"], counter_series), f"{file}: annotation"
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
    queries = panel_queries() + annotation_queries()
    recording = [{"record": f"envparity:panel_{i}", "expr": substitute(expr)} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": recording}]}))
    out = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dashboards_use_the_current_grafana_schema() -> None:
    legacy_board = {"rows", "style", "sharedCrosshair", "hideControls"}
    legacy_panel = {"format", "span", "height", "minSpan", "columns", "fontSize", "styles", "thresholds"}
    legacy_query = {"intervalFactor", "step"}
    for file, board in dashboard_files().items():
        assert board["schemaVersion"] == grafana_schema.SCHEMA_VERSION >= 39, file
        assert legacy_board & board.keys() == set(), file
        for variable in board["templating"]["list"]:
            assert {"useTags", "tagsQuery", "tagValuesQuery"} & variable.keys() == set(), file
        for p in board["panels"]:
            where = f"{file}: {p['title']}"
            assert p["type"] in ("timeseries", "stat", "table"), where  # no graph, singlestat or table-old
            assert legacy_panel & p.keys() == set(), where
            assert "displayMode" not in p["fieldConfig"]["defaults"].get("custom", {}), where  # cellOptions now
            for target in p["targets"]:
                assert legacy_query & target.keys() == set(), where


def test_firing_since_is_a_date_from_milliseconds(tmp_path: Path) -> None:
    firing = panel("envparity-oncall.json", "Firing since")
    assert firing["fieldConfig"]["defaults"]["unit"] == "dateTimeFromNow"  # a date unit: it reads milliseconds
    (target,) = firing["targets"]
    labels = {"alertname": "EnvParityPackageDrift", "severity": "critical", "target": "production", "subject": "numpy"}
    series = f"ALERTS_FOR_STATE{{{', '.join(f'{k}={v!r}' for k, v in labels.items())}, service='fraud'}}"
    active_since_s = 1_700_000_000  # Prometheus keeps the Unix time in seconds
    expected = [{"labels": f"{{{', '.join(f'{k}={v!r}' for k, v in labels.items())}}}", "value": active_since_s * 1000}]
    assert expect_samples(tmp_path, {series: f"{active_since_s}x5"}, substitute(target["expr"]), "3m", expected) == ""


def panel_links() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, url) of every panel link."""
    return [
        (file, p["title"], link["url"])
        for file, board in dashboard_files().items()
        for p in board["panels"]
        for link in p.get("links", [])
    ]


def test_every_alert_runbook_is_linked_from_a_panel() -> None:
    settings = rules.RuleSettings()
    alerts = {name.lower(): name for name in rules.alert_names(rules.rule_groups())}
    sections = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.M))
    linked = set()
    for file, title, url in panel_links():
        base, _, anchor = url.partition("#")
        assert base == settings.runbook, f"{file}: {title} links to {url}"
        assert anchor in alerts, f"{file}: {title} links to #{anchor}, which is no alert"
        assert alerts[anchor] in sections, f"{file}: {title} links to {alerts[anchor]}, which has no runbook section"
        assert settings.runbook_url(alerts[anchor]) == url
        linked.add(alerts[anchor])
    assert set(alerts.values()) - linked == set(), "alerts no panel links to"


def test_a_panel_cannot_link_an_unknown_alert() -> None:
    with pytest.raises(KeyError, match="EnvParityDataDrift"):
        panels.runbooks(["EnvParityDataDrift"])


def test_every_dashboard_marks_fingerprint_changes(tmp_path: Path) -> None:
    known = series_names()
    for file, board in dashboard_files().items():
        assert [a["name"] for a in board["annotations"]["list"]] == ["Fingerprint changes"], file
    queries = annotation_queries()
    assert len(queries) == len(dashboards.BUILDERS)
    for file, _, expr in queries:
        metrics, labels = names(expr)
        assert metrics == {"envparity_fingerprint_changes_total"}, file
        assert labels <= set(known["envparity_fingerprint_changes_total"].labels) | set(panels.TOPOLOGY), file
    # a new fingerprint of staging at minute 5 marks staging for a while; production's steady counter never shows
    expr = f"count by (environment) ({substitute(queries[0][2], {'$__rate_interval': '4m'})})"
    series = {
        'envparity_fingerprint_changes_total{service="fraud", environment="staging"}': "1x4 2x10",
        'envparity_fingerprint_changes_total{service="fraud", environment="production"}': "3x15",
    }
    staging = [{"labels": '{environment="staging"}', "value": 1}]
    assert expect_samples(tmp_path, series, expr, "7m", staging) == ""
    assert expect_samples(tmp_path, series, expr, "14m", []) == ""


def test_every_query_selects_a_cluster_and_namespace(tmp_path: Path) -> None:
    """Cluster and namespace narrow every query; All still matches the collector's series, which carry neither."""
    for file, title, expr in panel_queries() + annotation_queries():
        assert selectors(expr), f"{file}: {title}"
        for metric, matchers in selectors(expr):
            assert panels.SCOPE in matchers, f"{file}: {title}: {metric} without {panels.SCOPE}"
    for file, board in dashboard_files().items():
        variables = [v["name"] for v in board["templating"]["list"]]
        assert variables.index("cluster") < variables.index("namespace") < variables.index("service"), file
        for variable in board["templating"]["list"]:
            if variable["name"] in panels.TOPOLOGY:
                assert variable["includeAll"] and variable["multi"], file
                assert variable["allValue"] == VARIABLES[f"${variable['name']}"], file  # what the tests substitute
                metric = re.match(r"label_values\((\w+)", variable["query"]["query"])
                assert metric and metric.group(1) in series_names(), file
    (target,) = panel("envparity-executive.json", "Parity score")["targets"]
    pair = 'service="fraud", baseline="production", target="staging"'
    found = [{"labels": f"{{__name__='envparity_parity_score', {pair}}}", "value": 97}]
    series = {f"envparity_parity_score{{{pair}}}": "97x5"}
    assert expect_samples(tmp_path, series, substitute(target["expr"]), "3m", found) == ""


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


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/envparity.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    # the README tells where to mount dashboards/: the provider must read that folder
    assert f"`{provider['providers'][0]['options']['path']}`" in (REPO / "README.md").read_text()
    datasource = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/envparity.yml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
