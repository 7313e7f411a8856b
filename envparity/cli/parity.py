"""``envparity check``, ``envparity compare`` and ``envparity reference upload``."""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envparity.agent.environ import env_str, http_url, tls_verify
from envparity.cli.exits import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_OK
from envparity.cli.progress import row_chunks

if TYPE_CHECKING:
    from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary

FORMATS = ("table", "json", "markdown", "html")
COMPARE_FORMATS = ("table", "json", "markdown")


class GateError(Exception):
    """Bad input or an unreachable collector: exit code 2."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="CI promotion gate: parity of two environments (exit 1 on failure)")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--collector", help="collector URL")
    where.add_argument("--db", type=Path, help="DuckDB file of a collector that is not running")
    check.add_argument("--service", required=True, help="service name, as the agents report it")
    check.add_argument("--baseline", required=True, help="environment, ENV@24h (earlier window) or ref.NAME")
    check.add_argument("--target", required=True, help="environment judged against the baseline")
    check.add_argument("--window", default="1h", help="data window, e.g. 15m, 1h, 7d (default 1h)")
    check.add_argument("--token", default=env_str("ENVPARITY_TOKEN"), help="bearer token (default $ENVPARITY_TOKEN)")
    _add_ca_file(check)
    check.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    check.add_argument("--all", action="store_true", help="list passing checks too")
    _add_thresholds(check, "with --db: ")
    check.set_defaults(handler=_check)

    compare = sub.add_parser("compare", help="drift between two dataset files (CSV, Parquet, JSON lines)")
    compare.add_argument("baseline", type=Path, help="baseline dataset file")
    compare.add_argument("target", type=Path, help="target dataset file")
    compare.add_argument("--format", choices=COMPARE_FORMATS, default="table", help="output format (default table)")
    compare.add_argument(
        "--psi-binning",
        choices=("quantile", "evidently"),
        help="PSI bins: baseline deciles, or Evidently's equal-width bins (default: the thresholds', quantile)",
    )
    compare.add_argument("--features", help="comma-separated columns to compare (default: all)")
    compare.add_argument("--prediction", help="prediction column")
    compare.add_argument("--label", help="label (outcome) column")
    compare.add_argument("--all", action="store_true", help="list passing checks too")
    _add_thresholds(compare)
    compare.add_argument("--service", help="judge with this service's thresholds from the file (default: its defaults)")
    compare.set_defaults(handler=_compare)

    reference = sub.add_parser("reference", help="reference datasets used as a baseline")
    inner = reference.add_subparsers(dest="reference_command", required=True, metavar="SUBCOMMAND")
    upload = inner.add_parser("upload", help="upload a dataset file as the baseline ref.NAME")
    upload.add_argument("file", type=Path, help="dataset file (CSV, Parquet, JSON lines)")
    upload.add_argument(
        "--collector",
        default=env_str("ENVPARITY_COLLECTOR", "http://127.0.0.1:8400"),
        help="collector URL (default $ENVPARITY_COLLECTOR or http://127.0.0.1:8400)",
    )
    upload.add_argument("--service", required=True, help="service the reference belongs to")
    upload.add_argument("--name", required=True, help="the reference is then the environment ref.NAME")
    upload.add_argument("--prediction", help="prediction column")
    upload.add_argument("--token", default=env_str("ENVPARITY_TOKEN"), help="bearer token (default $ENVPARITY_TOKEN)")
    _add_ca_file(upload)
    upload.set_defaults(handler=_upload)


def _add_thresholds(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument(
        "--thresholds",
        type=Path,
        help=f"{when}YAML thresholds file, the collector's (default $ENVPARITY_THRESHOLDS; none: built-in defaults)",
    )


def _add_ca_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=Path(c) if (c := env_str("ENVPARITY_CA_FILE")) else None,
        help="PEM CA bundle to verify the collector's TLS certificate (default $ENVPARITY_CA_FILE, else the system's)",
    )


def _thresholds_file(args: argparse.Namespace) -> Path | None:
    """``--thresholds``, else ``ENVPARITY_THRESHOLDS``: the same file as the collector's gives the same verdict."""
    if args.thresholds is not None:
        return Path(args.thresholds)
    variable = env_str("ENVPARITY_THRESHOLDS")
    return Path(variable) if variable else None


def _emit(evaluation: EvaluationRecord, fmt: str, show_ok: bool, history: Sequence[EvaluationSummary] = ()) -> int:
    if fmt == "html":
        from envparity.collector.report.html import render_report

        print(render_report(evaluation, history))
    else:
        from envparity.collector.report.text import render_evaluation

        print(render_evaluation(evaluation, fmt, show_ok))
    return EXIT_FAIL if evaluation.status == "fail" else EXIT_OK


def _get(args: argparse.Namespace, path: str, params: dict[str, str]) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    verify = tls_verify("--ca-file", args.ca_file)
    try:
        response = httpx.get(
            f"{args.collector.rstrip('/')}{path}", params=params, headers=headers, timeout=120, verify=verify
        )
    except httpx.HTTPError as exc:
        raise GateError(f"collector {args.collector} cannot be reached: {exc}") from None
    if response.status_code != 200:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise GateError(f"collector answered {response.status_code}: {message}")
    body: dict[str, Any] = response.json()
    return body


def _from_collector(args: argparse.Namespace) -> tuple[EvaluationRecord, Sequence[EvaluationSummary]]:
    from envparity.collector.parity.record import EvaluationRecord, EvaluationSummary

    pair = {"service": args.service, "baseline": args.baseline, "target": args.target}
    evaluation = EvaluationRecord.model_validate(
        _get(args, "/v1/parity", {**pair, "fresh": "true", "window": args.window})
    )
    history = _get(args, "/v1/parity/history", pair)["evaluations"] if args.format == "html" else []
    return evaluation, [EvaluationSummary.model_validate(h) for h in history]


def _from_db(args: argparse.Namespace) -> tuple[EvaluationRecord, Sequence[EvaluationSummary]]:
    from envparity.collector.parity.model import ParityConfig
    from envparity.collector.parity.windows import parse_duration
    from envparity.collector.service import NotFound, ParityService
    from envparity.collector.store import Store, database_url

    if not args.db.is_file():
        raise GateError(f"{args.db}: no such file")
    config = ParityConfig.load(_thresholds_file(args))
    try:
        store = Store(database_url(args.db))
    except Exception as exc:  # a locked or foreign file: say so in one line
        raise GateError(
            f"cannot open {args.db} ({str(exc).splitlines()[0]}); is a collector using it? Use --collector URL then"
        ) from None
    try:
        window = parse_duration(args.window)
        service = ParityService(store, config)
        evaluation = service.latest(args.service, args.baseline, args.target, fresh=True, window=window)
        return evaluation, store.evaluations(args.service, args.baseline, args.target, limit=50)
    except NotFound as exc:
        raise GateError(f"{exc} in {args.db}") from None
    finally:
        store.close()


def _check(args: argparse.Namespace) -> int:
    if args.collector:
        http_url("--collector", args.collector)
    if args.collector and args.thresholds is not None:
        raise ValueError("--thresholds goes with --db: a collector judges with the thresholds file it was started with")
    try:
        evaluation, history = _from_collector(args) if args.collector else _from_db(args)
    except GateError as exc:
        print(f"envparity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return _emit(evaluation, args.format, args.all, history)


def _compare(args: argparse.Namespace) -> int:
    from envparity.collector.parity.model import ParityConfig
    from envparity.collector.parity.record import EvaluationRecord
    from envparity.collector.store.file_reader import compare_files

    config = ParityConfig.load(_thresholds_file(args))
    if args.service is not None and args.service not in config.services:
        raise ValueError(f"--service {args.service}: the thresholds file has no such service")
    thresholds = config.thresholds(args.service or "")
    if args.psi_binning:
        thresholds = thresholds.model_copy(update={"psi_binning": args.psi_binning})
    features = [f.strip() for f in args.features.split(",")] if args.features else None
    result = compare_files(args.baseline, args.target, thresholds, features, args.prediction, args.label)
    return _emit(EvaluationRecord.of(result), args.format, args.all)


def _plain_numbers(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values.tolist()]


def _upload(args: argparse.Namespace) -> int:
    import httpx

    from envparity.agent.snapshot import build_snapshot
    from envparity.agent.wire import Sample
    from envparity.collector.store.file_reader import read_file

    http_url("--collector", args.collector)
    verify = tls_verify("--ca-file", args.ca_file)
    data = read_file(args.file, prediction=args.prediction)
    columns = {
        name: _plain_numbers(col.numbers()) if col.kind == "numeric" else list(col.categories or [])
        for name, col in data.features.items()
    }
    predictions = _plain_numbers(data.predictions) if data.predictions is not None else None
    now, agent_id, chunk = datetime.now(UTC), f"reference-{uuid.uuid4().hex[:8]}", 5000
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        **({"Authorization": f"Bearer {args.token}"} if args.token else {}),
    }
    for seq, (start, end) in enumerate(row_chunks(data.samples, chunk, f"uploading {args.file.name}")):
        samples = [
            Sample(
                ts=now,
                features={name: values[i] for name, values in columns.items()},
                prediction=predictions[i] if predictions else None,
            )
            for i in range(start, end)
        ]
        snap = build_snapshot(
            agent_id=agent_id,
            sequence=seq,
            service=args.service,
            environment=f"ref.{args.name}",
            window_start=now,
            window_end=now,
            fingerprint=None,
            samples=samples,
        )
        try:
            response = httpx.post(
                f"{args.collector.rstrip('/')}/v1/snapshots",
                headers=headers,
                timeout=120,
                verify=verify,
                content=gzip.compress(snap.model_dump_json().encode()),
            )
        except httpx.HTTPError as exc:
            raise ValueError(f"collector {args.collector} cannot be reached: {exc}") from None
        if response.status_code != 200:  # raised, not printed: the progress bar is cleared first
            raise ValueError(f"collector answered {response.status_code}: {response.text}")
    print(f"uploaded {data.samples} rows of {args.file} as {args.service}/ref.{args.name}")
    return EXIT_OK
