"""``envparity demo``: the end-to-end demo on an embedded DuckDB file."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run the end-to-end demo (collector, two environments)")
    parser.add_argument("--workdir", type=Path, help="where the demo writes (default: a temp dir)")
    parser.add_argument("--seconds", type=float, default=45.0, help="traffic duration (default 45)")
    parser.add_argument("--serve", action="store_true", help="keep running; print the URLs to open")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from envparity.demo import run_demo

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="envparity-demo-"))
    return run_demo(workdir, args.seconds, args.serve)
