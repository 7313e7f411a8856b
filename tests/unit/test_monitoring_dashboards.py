"""Generated dashboards: current Grafana schema, linted, every query parsed and scoped by cluster and namespace,
runbook links and the fingerprint-change annotation, dates shown from milliseconds."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dashboard_queries import RUNBOOK, VARIABLES, dashboard_files, panel_queries, substitute
from helpers import REPO
from promql_names import counters_read_by_rate, expect_samples, names, selectors

from envparity.agent.catalogue import series_names
from envparity.monitoring import dashboards, grafana_schema, panels, rules


def annotation_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, annotation name, expr) of every Prometheus annotation query."""
    return [
        (file, annotation["name"], annotation["target"]["expr"])
        for file, board in dashboard_files().items()
        for annotation in board["annotations"]["list"]
    ]


def panel(file: str, title: str) -> dict[str, Any]:
    return next(p for p in dashboard_files()[file]["panels"] if p["title"] == title)


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


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/envparity.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    # the README tells where to mount dashboards/: the provider must read that folder
    assert f"`{provider['providers'][0]['options']['path']}`" in (REPO / "README.md").read_text()
    datasource = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/envparity.yml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
