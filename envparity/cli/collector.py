"""``envparity collector serve``: the central service."""

from __future__ import annotations

import argparse
import errno
import os
import socket
from pathlib import Path

from envparity.agent.environ import env_int, env_number, env_str
from envparity.collector.store.resources import DEFAULT_MAX_SAMPLES, MIN_MAX_SAMPLES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("collector", help="the central collector service")
    inner = parser.add_subparsers(dest="collector_command", required=True, metavar="SUBCOMMAND")
    serve = inner.add_parser("serve", help="serve the API on a DuckDB file or PostgreSQL")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--db", type=Path, help="DuckDB file (default: $ENVPARITY_DB)")
    where.add_argument(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: $ENVPARITY_DATABASE_URL)",
    )
    serve.add_argument(
        "--host",
        default=env_str("ENVPARITY_HOST", "127.0.0.1"),
        help="address to listen on (default $ENVPARITY_HOST or 127.0.0.1; beyond loopback needs --tokens-file)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=env_int("ENVPARITY_PORT", 8400),
        help="port to listen on (default $ENVPARITY_PORT or 8400)",
    )
    serve.add_argument(
        "--tokens-file",
        type=Path,
        default=Path(p) if (p := os.environ.get("ENVPARITY_TOKENS_FILE")) else None,
        help="YAML file of bearer tokens and their scopes (default $ENVPARITY_TOKENS_FILE; none: no auth)",
    )
    serve.add_argument("--insecure", action="store_true", help="allow listening beyond loopback without a tokens file")
    serve.add_argument(
        "--tls-cert",
        type=Path,
        default=Path(p) if (p := env_str("ENVPARITY_TLS_CERT")) else None,
        help="PEM certificate (chain) to serve HTTPS with, together with --tls-key (default $ENVPARITY_TLS_CERT)",
    )
    serve.add_argument(
        "--tls-key",
        type=Path,
        default=Path(p) if (p := env_str("ENVPARITY_TLS_KEY")) else None,
        help="PEM private key of --tls-cert (default $ENVPARITY_TLS_KEY)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=env_int("ENVPARITY_MAX_BODY_BYTES", 8 * 1024 * 1024),
        help="largest request body accepted, after decompression (default $ENVPARITY_MAX_BODY_BYTES or 8 MiB)",
    )
    serve.add_argument(
        "--max-inflight-ingests",
        type=int,
        default=env_int("ENVPARITY_MAX_INFLIGHT_INGESTS", 64),
        help="ingests handled at once; more are answered 429 with Retry-After "
        "(default $ENVPARITY_MAX_INFLIGHT_INGESTS or 64)",
    )
    serve.add_argument(
        "--ingest-group",
        type=int,
        default=env_int("ENVPARITY_INGEST_GROUP", 32),
        help="snapshots arriving together written in one transaction at most (group commit); 1 writes each alone "
        "(default $ENVPARITY_INGEST_GROUP or 32)",
    )
    serve.add_argument(
        "--duckdb-memory-limit",
        default=env_str("ENVPARITY_DUCKDB_MEMORY_LIMIT"),
        help="DuckDB's memory limit, e.g. 2GiB; past it DuckDB spills to disk "
        "(default $ENVPARITY_DUCKDB_MEMORY_LIMIT or 1 GiB or a quarter of the memory, whichever is smaller)",
    )
    serve.add_argument(
        "--protect-metrics",
        action="store_true",
        help="/metrics needs a token with `metrics: true` (also `protect_metrics: true` in the tokens file)",
    )
    serve.add_argument(
        "--retention-days",
        type=float,
        default=env_number("ENVPARITY_RETENTION_DAYS", 30.0),
        help="days of snapshots and evaluations kept (default $ENVPARITY_RETENTION_DAYS or 30)",
    )
    serve.add_argument(
        "--thresholds",
        type=Path,
        default=Path(p) if (p := os.environ.get("ENVPARITY_THRESHOLDS")) else None,
        help="YAML thresholds and pairs per service (default: $ENVPARITY_THRESHOLDS)",
    )
    serve.add_argument(
        "--evaluate-every",
        type=float,
        default=env_number("ENVPARITY_EVALUATE_EVERY_S", 60.0),
        help="seconds between parity evaluations of every pair; 0 turns them off (default 60)",
    )
    serve.add_argument(
        "--stale-after",
        default=env_str("ENVPARITY_STALE_AFTER", "5m"),
        help="an agent's or GPU's series leave /metrics once it has not reported for this long "
        "(default $ENVPARITY_STALE_AFTER or 5m)",
    )
    serve.add_argument(
        "--window",
        default=env_str("ENVPARITY_WINDOW", "1h"),
        help="data window of scheduled evaluations (default $ENVPARITY_WINDOW or 1h)",
    )
    serve.add_argument(
        "--max-samples",
        type=int,
        default=env_int("ENVPARITY_MAX_SAMPLES", DEFAULT_MAX_SAMPLES),
        help="samples of an environment an evaluation reads at most; a window holding more is thinned to about "
        f"this many, one snapshot in N (default $ENVPARITY_MAX_SAMPLES or {DEFAULT_MAX_SAMPLES})",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    db = args.db or (Path(p) if (p := env_str("ENVPARITY_DB")) else None)
    url = args.database_url or env_str("ENVPARITY_DATABASE_URL")
    if not db and not url:
        raise ValueError("give --db PATH or --database-url URL (or ENVPARITY_DB / ENVPARITY_DATABASE_URL)")
    if db and not db.parent.is_dir():
        raise ValueError(f"--db {db}: folder {db.parent} does not exist")
    if args.max_samples < MIN_MAX_SAMPLES:
        raise ValueError(f"--max-samples {args.max_samples}: at least {MIN_MAX_SAMPLES:,}, or the checks lack samples")
    _require_free_port(args.host, args.port)
    from envparity.collector.parity.windows import parse_duration
    from envparity.collector.serve import CollectorSettings, serve

    serve(
        CollectorSettings(
            db_path=db,
            database_url=url,
            host=args.host,
            port=args.port,
            tokens_file=args.tokens_file,
            insecure=args.insecure,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            max_body_bytes=args.max_body_bytes,
            max_inflight_ingests=args.max_inflight_ingests,
            ingest_group=args.ingest_group,
            duckdb_memory_limit=args.duckdb_memory_limit,
            protect_metrics=args.protect_metrics,
            retention_days=args.retention_days,
            thresholds_file=args.thresholds,
            evaluate_every_s=args.evaluate_every,
            window=parse_duration(args.window),
            max_samples=args.max_samples,
            stale_after=parse_duration(args.stale_after),
        )
    )
    return 0


def _require_free_port(host: str, port: int) -> None:
    """Refuse, in one line, a port another process holds (the server would otherwise exit after logging its URL)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ValueError(f"port {port} on {host} is in use by another process") from None
            raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
