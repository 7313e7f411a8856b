"""``envparity fingerprint show|diff``: an environment as data, and two of them compared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from envparity.cli.exits import EXIT_FAIL, EXIT_OK
from envparity.cli.sources import add_source_options, sources_from_args

if TYPE_CHECKING:  # the fingerprint and diff modules are imported by the commands that use them
    from envparity.agent.wire import Fingerprint
    from envparity.collector.parity.fingerprint_diff import DiffItem

DIFF_COLUMNS = ("severity", "dimension", "change", "key", "baseline", "target")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("fingerprint", help="fingerprint this environment, or diff two")
    inner = parser.add_subparsers(dest="fingerprint_command", required=True, metavar="SUBCOMMAND")
    show = inner.add_parser("show", help="print this environment's fingerprint")
    add_source_options(show)
    show.add_argument("--format", choices=("json", "table"), default="json", help="output format (default json)")
    show.set_defaults(handler=_show)
    diff = inner.add_parser("diff", help="compare two fingerprint JSON files (exit 1 on failures)")
    diff.add_argument("baseline", type=Path, help="fingerprint JSON file of the baseline (from fingerprint show)")
    diff.add_argument("target", type=Path, help="fingerprint JSON file of the target")
    diff.add_argument(
        "--format", choices=("table", "json", "markdown"), default="table", help="output format (default table)"
    )
    diff.add_argument("--rules", type=Path, help="YAML severity rules, applied before the defaults")
    diff.set_defaults(handler=_diff)


def _show(args: argparse.Namespace) -> int:
    from envparity.agent.fingerprint import take_fingerprint
    from envparity.collector.report.tables import text_table

    fp = take_fingerprint(sources_from_args(args))
    if args.format == "json":
        print(fp.model_dump_json(indent=2))
        return 0
    rows = [{"dimension": "code", "key": f"package:{k}", "value": v} for k, v in fp.code.packages.items()]
    rows[:0] = [{"dimension": "code", "key": "python", "value": fp.code.python.version}]
    rows += [
        {"dimension": "config", "key": f"env:{k}", "value": v.value or "[redacted]"} for k, v in fp.config.env.items()
    ]
    rows += [
        {"dimension": "config", "key": f"file:{f}:{k}", "value": v.value or "[redacted]"}
        for f, cf in fp.config.files.items()
        for k, v in cf.keys.items()
    ]
    rows += [{"dimension": "artifacts", "key": k, "value": a.sha256} for k, a in fp.artifacts.items.items()]
    rows += [{"dimension": "compute", "key": k, "value": v} for k, v in fp.compute.model_dump(exclude={"gpus"}).items()]
    print(text_table(rows, ("dimension", "key", "value")))
    print(f"\nfingerprint {fp.hash}")
    return 0


def load_fingerprint(path: Path) -> Fingerprint:
    """A fingerprint from a JSON file (as ``fingerprint show`` writes it)."""
    from pydantic import ValidationError

    from envparity.agent.wire import Fingerprint

    try:
        return Fingerprint.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValidationError as exc:
        raise ValueError(f"{path}: not a fingerprint: {exc.errors()[0]['msg']}") from None


def render_diff(items: list[DiffItem], fmt: str, title: str) -> str:
    from envparity.collector.parity.fingerprint_diff import diff_status
    from envparity.collector.report.tables import markdown_table, text_table

    status = diff_status(items)
    if fmt == "json":
        return json.dumps({"status": status, "items": [i.as_dict() for i in items]}, indent=2)
    rows = [i.as_dict() for i in items]
    counts = {s: sum(i.severity == s for i in items) for s in ("fail", "warn", "info")}
    summary = f"{title}: {status.upper()} ({counts['fail']} fail, {counts['warn']} warn, {counts['info']} info)"
    if fmt == "markdown":
        return f"### {summary}\n\n" + (markdown_table(rows, DIFF_COLUMNS) if rows else "No differences.")
    return summary + ("\n\n" + text_table(rows, DIFF_COLUMNS) if rows else "\nNo differences.")


def _diff(args: argparse.Namespace) -> int:
    from envparity.collector.parity.diff_rules import load_rules
    from envparity.collector.parity.fingerprint_diff import diff_fingerprints, diff_status

    rules = load_rules(args.rules)
    baseline, target = load_fingerprint(args.baseline), load_fingerprint(args.target)
    items = diff_fingerprints(baseline, target, rules)
    print(render_diff(items, args.format, f"fingerprint diff {args.baseline} -> {args.target}"))
    return EXIT_FAIL if diff_status(items) == "fail" else EXIT_OK
