# PYTHON_ARGCOMPLETE_OK
"""The ``envparity`` command line: parses arguments and hands each command to its part.

Exit codes are shared by every command (``envparity.cli.exits``). A ValueError or
OSError from any part is bad input: one line on stderr, exit code 2; so is a command
whose optional dependencies are not installed (the line names the extra to install).
Any other exception is a bug: one line and exit code 5, the traceback only with
``--debug``. Output cut short by its reader (``| head``) is not an error. Shell
completion comes from argcomplete (``eval "$(register-python-argcomplete envparity)"``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

import argcomplete

from envparity import __version__
from envparity.cli import agent, collector, demo, fingerprint, monitoring, parity, wire
from envparity.cli.exits import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED

# The extra that provides each optional top-level module.
_EXTRA_OF_MODULE = {
    **dict.fromkeys(
        ("fastapi", "starlette", "uvicorn", "sqlalchemy", "duckdb", "duckdb_engine", "psycopg", "numpy", "scipy"),
        "collector",
    ),
    **dict.fromkeys(("pyarrow", "grafanalib", "jinja2", "markupsafe"), "collector"),
    **dict.fromkeys(("aiohttp", "httptools", "uvloop"), "proxy"),
    "opentelemetry": "otel",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envparity", description="Tell whether staging behaves like production, and where not."
    )
    parser.add_argument("--version", action="version", version=f"envparity {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
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
    try:
        parser = build_parser()  # options take their defaults from ENVPARITY_* variables, which may be malformed
    except ValueError as exc:
        print(f"envparity: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # the reader went away (``| head``): not an error of the input
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:
        return _missing_module(exc, args.debug)
    except (ValueError, OSError) as exc:
        print(f"envparity: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: one line, not a traceback that a CI gate could read as drift
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for the traceback)"
        print(f"envparity: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}", file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _missing_module(exc: ModuleNotFoundError, debug: bool) -> int:
    """A command whose extra is not installed: name the extra, exit 2; an unknown module is a bug."""
    top = (exc.name or "").split(".")[0]
    extra = _EXTRA_OF_MODULE.get(top)
    if extra is None:
        if debug:
            traceback.print_exc()
        print(f"envparity: internal error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INTERNAL
    print(
        f"envparity: error: this command needs envparity[{extra}] (module {top} is not installed): "
        f"pip install 'envparity[{extra}]'",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT
