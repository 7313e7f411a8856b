"""The ``envparity`` command line: parses arguments and hands each command to its part.

Exit codes shared by every command: 0 success (nothing fails), 1 something fails
(a parity check, a fingerprint diff), 2 bad input or an unreachable collector,
3 the agent spooled a snapshot it could not deliver.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from envparity import __version__
from envparity.cli import agent, collector, demo, fingerprint, parity, wire

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_SPOOLED = 0, 1, 2, 3


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envparity", description="Tell whether staging behaves like production, and where not."
    )
    parser.add_argument("--version", action="version", version=f"envparity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (fingerprint, agent, collector, parity, demo, wire):
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
    except (CliError, ValueError, OSError) as exc:
        print(f"envparity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
