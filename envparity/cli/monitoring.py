"""``envparity dashboards build`` and ``envparity alerts build``: the generated monitoring files."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dashboards = sub.add_parser("dashboards", help="Grafana dashboards")
    inner = dashboards.add_subparsers(dest="dashboards_command", required=True, metavar="SUBCOMMAND")
    build = inner.add_parser("build", help="write the Grafana dashboard JSON files")
    build.add_argument("--out", type=Path, default=Path("dashboards"), help="directory (default ./dashboards)")
    build.set_defaults(handler=_dashboards)

    alerts = sub.add_parser("alerts", help="Prometheus alert rules")
    inner = alerts.add_subparsers(dest="alerts_command", required=True, metavar="SUBCOMMAND")
    build = inner.add_parser("build", help="write the Prometheus rule file")
    build.add_argument("--out", type=Path, default=Path("alerts"), help="directory (default ./alerts)")
    build.add_argument(
        "--paging-environment",
        action="append",
        dest="paging_environments",
        metavar="ENV",
        help="an environment whose alerts page (severity critical), repeated for several; alerts of any other "
        "environment open a ticket (warning). Default: production and its usual aliases, listed in docs/runbooks.md",
    )
    build.add_argument("--collector-job", default="envparity-collector", help="Prometheus job of the collector")
    build.add_argument("--runbook", help="URL of the runbook page (default: the project's docs/runbooks.md)")
    build.set_defaults(handler=_alerts)


def _report(paths: list[Path]) -> int:
    for path in paths:
        print(path)
    return 0


def _dashboards(args: argparse.Namespace) -> int:
    from envparity.monitoring import dashboards

    return _report(dashboards.write(args.out))


def _alerts(args: argparse.Namespace) -> int:
    from envparity.monitoring import rules

    settings = rules.RuleSettings(
        paging_environments=tuple(args.paging_environments or rules.PAGING_ENVIRONMENTS),
        collector_job=args.collector_job,
        runbook=args.runbook or rules.DEFAULT_RUNBOOK,
    )
    return _report(rules.write(args.out, settings))
