"""The golden probe options: ``--endpoint``, ``--inputs``, ... of ``agent probe``; ``--probe-*`` of run and proxy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from envparity.collector.parity.windows import parse_duration

if TYPE_CHECKING:
    from envparity.agent.probes.prober import ProbeConfig


def _seconds(text: str) -> float:
    return parse_duration(text).total_seconds()


def add_probe_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The options under their own names (``agent probe``, where endpoint and inputs are required) or ``prefix``ed."""
    group = parser.add_argument_group("golden probes")
    group.add_argument(
        f"--{prefix}endpoint",
        dest="probe_endpoint",
        required=not prefix,
        metavar="URL",
        help="the HTTP endpoint the golden inputs are POSTed to (a model's predict route, a feature server's "
        "get-online-features)",
    )
    group.add_argument(
        f"--{prefix}inputs",
        dest="probe_inputs",
        type=Path,
        required=not prefix,
        metavar="FILE",
        help='JSON lines of golden inputs, {"id": "...", "body": {...}} each',
    )
    group.add_argument(
        f"--{prefix}output",
        dest="probe_outputs",
        action="append",
        default=[],
        metavar="POINTER",
        help="JSON pointer of an output to compare (repeatable; default: every number and string of the answer)",
    )
    group.add_argument(
        f"--{prefix}every",
        dest="probe_every",
        type=_seconds,
        default="5m",
        metavar="DURATION",
        help="how often the inputs are asked: 30s, 5m, 1h (default 5m)",
    )
    group.add_argument(
        f"--{prefix}timeout",
        dest="probe_timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for each answer (default 10)",
    )


def optional_probe_config(args: argparse.Namespace) -> ProbeConfig | None:
    """The probes the ``--probe-*`` options ask for; None when neither endpoint nor inputs are given."""
    return None if args.probe_endpoint is None and args.probe_inputs is None else probe_config(args)


def probe_config(args: argparse.Namespace) -> ProbeConfig:
    """The probes the options ask for; a ValueError when the endpoint or the inputs file is missing or bad."""
    from envparity.agent.probes.inputs import load_inputs
    from envparity.agent.probes.prober import ProbeConfig

    if args.probe_endpoint is None or args.probe_inputs is None:
        raise ValueError("golden probes need both an endpoint and an inputs file (--probe-endpoint, --probe-inputs)")
    return ProbeConfig(
        endpoint=args.probe_endpoint,
        inputs=load_inputs(args.probe_inputs),
        outputs=tuple(args.probe_outputs),
        every_s=args.probe_every,
        timeout_s=args.probe_timeout,
    )
