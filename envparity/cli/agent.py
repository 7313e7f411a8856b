"""``envparity agent run``: fingerprint this environment and push snapshots to the collector."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from envparity.agent.settings import AgentSettings, env_number
from envparity.cli.exits import EXIT_DEAD_LETTERED, EXIT_OK, EXIT_SPOOLED
from envparity.cli.sources import add_source_options, sources_from_args

if TYPE_CHECKING:
    from envparity.agent.agent import Agent

log = logging.getLogger("envparity.agent")


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collector", help="collector URL (default: $ENVPARITY_COLLECTOR or http://127.0.0.1:8400)")
    parser.add_argument("--service", help="service name (default: $ENVPARITY_SERVICE)")
    parser.add_argument("--environment", help="environment name (default: $ENVPARITY_ENVIRONMENT)")
    parser.add_argument("--token", help="collector bearer token (default: $ENVPARITY_TOKEN)")
    parser.add_argument("--agent-id", help="agent id (default: $ENVPARITY_AGENT_ID, else kept in the spool)")
    parser.add_argument(
        "--spool", type=Path, help="spool directory (default: $ENVPARITY_SPOOL_DIR or the user's state dir)"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=env_number("ENVPARITY_WINDOW_S", 60.0),
        help="seconds per window (default $ENVPARITY_WINDOW_S or 60)",
    )
    parser.add_argument(
        "--sample-size",
        type=int,
        default=int(env_number("ENVPARITY_SAMPLE_SIZE", 2000)),
        help="sampled requests per window (default $ENVPARITY_SAMPLE_SIZE or 2000)",
    )
    parser.add_argument(
        "--gpu-interval",
        type=float,
        default=env_number("ENVPARITY_GPU_INTERVAL_S", 5.0),
        help="seconds between GPU samples through NVML; 0 turns GPU telemetry off (default 5)",
    )
    parser.add_argument("--metrics-port", type=int, help="serve the agent's own Prometheus metrics here")
    parser.add_argument("--otlp-endpoint", help="send OpenTelemetry spans of pushes (OTLP/HTTP)")
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


def agent_from_args(args: argparse.Namespace, **extra: object) -> Agent:
    """A started continuous agent configured by the shared agent options."""
    from envparity.agent.agent import Agent

    return Agent(
        settings_from_args(args),
        window_s=args.window,
        sample_size=args.sample_size,
        metrics_port=args.metrics_port,
        otlp_endpoint=args.otlp_endpoint,
        gpu_interval_s=args.gpu_interval or None,
        **extra,
    )  # type: ignore[arg-type]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("agent", help="the agent that runs beside a model server")
    inner = parser.add_subparsers(dest="agent_command", required=True, metavar="SUBCOMMAND")
    run = inner.add_parser("run", help="fingerprint and push snapshots to the collector")
    add_agent_options(run)
    run.add_argument(
        "--once",
        action="store_true",
        help="push one snapshot and exit: 0 acknowledged, 3 spooled, not delivered, "
        "4 refused by the collector (dead-lettered)",
    )
    run.set_defaults(handler=_run)


def wait_for_termination() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _run(args: argparse.Namespace) -> int:
    if args.once:
        from envparity.agent.runner import run_once

        report = run_once(settings_from_args(args))
        log.info(
            "delivered %d snapshot(s), %d dead-lettered, %d still spooled",
            report.sent,
            report.dead,
            report.remaining,
        )
        if not report.delivered_all:
            return EXIT_SPOOLED
        return EXIT_DEAD_LETTERED if report.dead else EXIT_OK
    agent = agent_from_args(args)
    log.info("agent %s running: window %.3gs, collector %s", agent.agent_id, args.window, agent.settings.collector)
    wait_for_termination()
    report = agent.close()
    return EXIT_OK if report.delivered_all else EXIT_SPOOLED
