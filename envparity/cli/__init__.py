"""The ``envparity`` command line: parses arguments and hands each command to its part.

Exit codes are shared by every command (``envparity.cli.exits``). A ValueError or
OSError from any part is bad input: one line on stderr, exit code 2. Output cut short by
its reader (``| head``) is not an error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from envparity import __version__
from envparity.cli import agent, collector, demo, fingerprint, monitoring, parity, wire
from envparity.cli.exits import EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envparity", description="Tell whether staging behaves like production, and where not."
    )
    parser.add_argument("--version", action="version", version=f"envparity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (fingerprint, agent, collector, parity, monitoring, demo, wire):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("ENVPARITY_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # the reader went away (``| head``): not an error of the input
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
    except (ValueError, OSError) as exc:
        print(f"envparity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
