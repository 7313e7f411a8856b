"""``envparity agent run``: fingerprint this environment and push it to the collector."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from envparity.agent.runner import run_once
from envparity.agent.settings import AgentSettings
from envparity.cli.sources import add_source_options, sources_from_args

log = logging.getLogger("envparity.agent")
EXIT_SPOOLED, EXIT_DEAD_LETTERED = 3, 4


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--collector", help="collector URL (default: $ENVPARITY_COLLECTOR or http://127.0.0.1:8400)"
    )
    parser.add_argument("--service", help="service name (default: $ENVPARITY_SERVICE)")
    parser.add_argument("--environment", help="environment name (default: $ENVPARITY_ENVIRONMENT)")
    parser.add_argument("--token", help="collector bearer token (default: $ENVPARITY_TOKEN)")
    parser.add_argument("--agent-id", help="agent id (default: $ENVPARITY_AGENT_ID, else kept in the spool)")
    parser.add_argument(
        "--spool", type=Path, help="spool directory (default: $ENVPARITY_SPOOL_DIR or the user's state dir)"
    )
    add_source_options(parser)


def settings_from_args(args: argparse.Namespace) -> AgentSettings:
    return AgentSettings.from_env(
        service=args.service,
        environment=args.environment,
        collector=args.collector,
        token=args.token,
        agent_id=args.agent_id,
        spool_dir=args.spool,
        sources=sources_from_args(args),
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("agent", help="the agent that runs beside a model server")
    inner = parser.add_subparsers(dest="agent_command", required=True, metavar="SUBCOMMAND")
    run = inner.add_parser("run", help="fingerprint and push snapshots to the collector")
    add_agent_options(run)
    run.add_argument(
        "--once",
        action="store_true",
        help="push one snapshot and exit: 0 acknowledged, 3 spooled, not delivered",
    )
    run.add_argument(
        "--interval", type=float, default=60.0, help="seconds between snapshots when not --once (default 60)"
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.interval <= 0:
        raise ValueError("--interval must be positive")
    while True:
        report = run_once(settings)
        log.info(
            "delivered %d snapshot(s), %d dead-lettered, %d still spooled",
            report.sent,
            report.dead,
            report.remaining,
        )
        if args.once:
            if not report.delivered_all:
                return EXIT_SPOOLED
            return EXIT_DEAD_LETTERED if report.dead else 0
        time.sleep(args.interval)
