"""``envparity agent run``, ``agent proxy`` and ``agent probe``: the agent beside a model server, the sidecar
proxy, and golden probes alone."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from envparity.agent.environ import env_int, env_number, env_str, http_url
from envparity.cli.exits import EXIT_DEAD_LETTERED, EXIT_OK, EXIT_SPOOLED
from envparity.cli.probe import add_probe_options, optional_probe_config, probe_config
from envparity.cli.sources import add_source_options, sources_from_args

if TYPE_CHECKING:
    from envparity.agent.agent import Agent
    from envparity.agent.push import DeliveryReport
    from envparity.agent.settings import AgentSettings

log = logging.getLogger("envparity.agent")


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Where snapshots go and who sends them: the options every agent command shares."""
    parser.add_argument("--collector", help="collector URL (default: $ENVPARITY_COLLECTOR or http://127.0.0.1:8400)")
    parser.add_argument("--service", help="service name (default: $ENVPARITY_SERVICE)")
    parser.add_argument("--environment", help="environment name (default: $ENVPARITY_ENVIRONMENT)")
    parser.add_argument("--token", help="collector bearer token (default: $ENVPARITY_TOKEN)")
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="PEM CA bundle to verify the collector's TLS certificate (default: $ENVPARITY_CA_FILE, else the system's)",
    )
    parser.add_argument("--agent-id", help="agent id (default: $ENVPARITY_AGENT_ID, else kept in the spool)")
    parser.add_argument(
        "--spool", type=Path, help="spool directory (default: $ENVPARITY_SPOOL_DIR or the user's state dir)"
    )
    parser.add_argument("--metrics-port", type=int, help="serve the agent's own Prometheus metrics here")
    parser.add_argument(
        "--metrics-host",
        default=env_str("ENVPARITY_METRICS_HOST", "127.0.0.1"),
        help="address the agent's metrics bind to; 0.0.0.0 to be scraped from outside the pod "
        "(default $ENVPARITY_METRICS_HOST or 127.0.0.1)",
    )


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    add_connection_options(parser)
    parser.add_argument(
        "--window",
        type=float,
        default=env_number("ENVPARITY_WINDOW_S", 60.0),
        help="seconds per window (default $ENVPARITY_WINDOW_S or 60)",
    )
    parser.add_argument(
        "--sample-size",
        type=int,
        default=env_int("ENVPARITY_SAMPLE_SIZE", 2000),
        help="sampled requests per window (default $ENVPARITY_SAMPLE_SIZE or 2000)",
    )
    parser.add_argument(
        "--gpu-interval",
        type=float,
        default=env_number("ENVPARITY_GPU_INTERVAL_S", 5.0),
        help="seconds between GPU samples through NVML; 0 turns GPU telemetry off (default 5)",
    )
    parser.add_argument("--otlp-endpoint", help="send OpenTelemetry spans of pushes (OTLP/HTTP)")
    parser.add_argument(
        "--mask-features",
        choices=("auto", "off"),
        help="auto: mask sampled feature values that look personal or secret; off: send them as recorded "
        "(default $ENVPARITY_MASK_FEATURES or auto)",
    )
    parser.add_argument(
        "--mask-names", metavar="NAMES", help="features always masked, comma-separated (default $ENVPARITY_MASK_NAMES)"
    )
    parser.add_argument(
        "--keep-names", metavar="NAMES", help="features never masked, comma-separated (default $ENVPARITY_KEEP_NAMES)"
    )
    add_source_options(parser)
    add_probe_options(parser, prefix="probe-")


def _connection(args: argparse.Namespace) -> dict[str, object]:
    return {
        "service": args.service,
        "environment": args.environment,
        "collector": args.collector,
        "token": args.token,
        "ca_file": args.ca_file,
        "agent_id": args.agent_id,
        "spool_dir": args.spool,
    }


def settings_from_args(args: argparse.Namespace) -> AgentSettings:
    from envparity.agent.settings import AgentSettings, mask_mode, names_list

    return AgentSettings.from_env(
        **_connection(args),
        mask_features=mask_mode(args.mask_features, "--mask-features") if args.mask_features else None,
        mask_names=names_list(args.mask_names) if args.mask_names is not None else None,
        keep_names=names_list(args.keep_names) if args.keep_names is not None else None,
        sources=sources_from_args(args),
    )


def agent_from_args(args: argparse.Namespace) -> Agent:
    """A started continuous agent configured by the shared agent options."""
    from envparity.agent.agent import Agent

    return Agent(
        settings_from_args(args),
        window_s=args.window,
        sample_size=args.sample_size,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        otlp_endpoint=args.otlp_endpoint,
        gpu_interval_s=args.gpu_interval or None,
        probes=optional_probe_config(args),
    )


def probe_settings(args: argparse.Namespace) -> AgentSettings:
    """Settings of ``agent probe``: its default spool beside, never in, the agent's of the same environment."""
    from envparity.agent.settings import AgentSettings

    settings = AgentSettings.from_env(**_connection(args))
    spool = settings.spool_path
    return settings if settings.spool_dir else replace(settings, spool_dir=spool.with_name(f"{spool.name}-probes"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    run.add_argument("--log-file", type=Path, help="follow this JSON lines prediction log and record each line")
    run.add_argument("--log-format", choices=("jsonl",), default="jsonl", help="format of --log-file (jsonl)")
    run.add_argument(
        "--log-fields", type=Path, help="YAML mapping of log fields (timestamp, request_id, features, ...) to keys"
    )
    run.set_defaults(handler=_run)

    proxy = inner.add_parser("proxy", help="sidecar reverse proxy that records the requests it forwards")
    add_agent_options(proxy)
    proxy.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT to accept requests on")
    proxy.add_argument("--upstream", required=True, help="the model server's base URL, e.g. http://127.0.0.1:8080")
    proxy.add_argument("--upstream-timeout", type=float, default=30.0, help="seconds to wait for the upstream")
    proxy.add_argument("--shadow", help="base URL of a staging service to mirror a fraction of requests to")
    proxy.add_argument("--shadow-fraction", type=float, default=0.0, help="share of requests mirrored (0-1)")
    proxy.add_argument("--shadow-max-in-flight", type=int, default=64, help="mirrored requests in flight at most")
    proxy.add_argument("--paths", help="comma-separated glob patterns of prediction routes (default: the common ones)")
    proxy.add_argument("--features-pointer", help="JSON pointer to the features (batch or instance) in requests")
    proxy.add_argument("--prediction-pointer", help="JSON pointer to the predictions in responses")
    proxy.add_argument("--confidence-pointer", help="JSON pointer to the confidences in responses")
    proxy.add_argument("--request-id-header", default="X-Request-ID", help="request id header (default X-Request-ID)")
    proxy.add_argument(
        "--grace", type=float, default=30.0, help="seconds to finish requests in flight on SIGTERM (default 30)"
    )
    proxy.set_defaults(handler=_proxy)

    probe = inner.add_parser("probe", help="ask golden inputs of an endpoint on a schedule and push the answers")
    add_connection_options(probe)
    add_probe_options(probe)
    probe.add_argument(
        "--once",
        action="store_true",
        help="ask every input once, push the answers and exit (exit codes as agent run --once)",
    )
    probe.set_defaults(handler=_probe)


def wait_for_termination() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _delivered(report: DeliveryReport) -> int:
    """The exit code of a one-off run: 0 all acknowledged, 3 some still spooled, 4 some dead-lettered."""
    log.info("delivered %d snapshot(s), %d dead-lettered, %d still spooled", report.sent, report.dead, report.remaining)
    if not report.delivered_all:
        return EXIT_SPOOLED
    return EXIT_DEAD_LETTERED if report.dead else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.once:
        from envparity.agent.runner import run_once

        return _delivered(run_once(settings_from_args(args), optional_probe_config(args)))
    agent = agent_from_args(args)
    tail = None
    if args.log_file:
        from envparity.agent.capture.logtail import LogFields, LogTail

        tail = LogTail(args.log_file, agent, agent.spool.root, LogFields.load(args.log_fields))
        tail.start()
    log.info("agent %s running: window %.3gs, collector %s", agent.agent_id, args.window, agent.settings.collector)
    wait_for_termination()
    if tail is not None:
        tail.stop()
    return EXIT_OK if agent.close() else EXIT_SPOOLED


def _probe(args: argparse.Namespace) -> int:
    from envparity.agent.runner import run_probes_once

    settings, config = probe_settings(args), probe_config(args)
    if args.once:
        return _delivered(run_probes_once(settings, config))
    from envparity.agent.probes.standalone import ProbeAgent

    agent = ProbeAgent(settings, config, args.metrics_port, args.metrics_host)
    log.info("probing %s every %.3gs, agent %s", config.endpoint, config.every_s, agent.agent_id)
    wait_for_termination()
    return EXIT_OK if agent.close() else EXIT_SPOOLED


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen {value!r}: expected HOST:PORT")
    return host, int(port)


def _proxy(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise ValueError("the proxy needs uvicorn: pip install 'envparity[proxy]'") from None
    from envparity.agent.capture.endpoints import ProxyEndpoints
    from envparity.agent.capture.extract import DEFAULT_PATHS, CaptureConfig
    from envparity.agent.capture.middleware import EnvParityMiddleware
    from envparity.agent.capture.proxy import ReverseProxy
    from envparity.agent.capture.shadow import ShadowMirror

    host, port = _listen(args.listen)
    upstream = http_url("--upstream", args.upstream)
    shadow_url = http_url("--shadow", args.shadow) if args.shadow else None
    config = CaptureConfig(
        paths=tuple(p.strip() for p in args.paths.split(",")) if args.paths else DEFAULT_PATHS,
        features_pointer=args.features_pointer,
        prediction_pointer=args.prediction_pointer,
        confidence_pointer=args.confidence_pointer,
        request_id_header=args.request_id_header,
    )
    agent = agent_from_args(args)
    shadow = None
    if shadow_url:
        shadow = ShadowMirror(shadow_url, args.shadow_fraction, args.shadow_max_in_flight, counter=agent.metrics.shadow)
    recorded = EnvParityMiddleware(ReverseProxy(upstream, args.upstream_timeout), agent, config, shadow)
    server = uvicorn.Server(
        uvicorn.Config(
            ProxyEndpoints(recorded, upstream),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,  # the upstream's Server header is the only one; Date is uvicorn's (ReverseProxy)
            timeout_graceful_shutdown=int(args.grace),
            lifespan="on",
        )
    )
    log.info("proxy on http://%s:%d -> %s, agent %s", host, port, args.upstream, agent.agent_id)
    # uvicorn re-raises the stop signal once it has shut down; with this handler in place that is a no-op,
    # so the last window is still flushed below
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()  # SIGTERM/SIGINT: stop accepting, finish requests in flight
    delivered = agent.close()  # seal and deliver the last window
    log.info("proxy stopped; last window delivered: %s", delivered)
    return EXIT_OK if delivered else EXIT_SPOOLED
