"""``envparity wire schema``: the JSON Schema of the wire format."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("wire", help="the agent-collector wire format")
    inner = parser.add_subparsers(dest="wire_command", required=True, metavar="SUBCOMMAND")
    schema = inner.add_parser("schema", help="print the JSON Schema of the wire format")
    schema.set_defaults(handler=_schema)


def _schema(_: argparse.Namespace) -> int:
    from envparity.agent import wire

    print(json.dumps(wire.json_schema(), indent=2, sort_keys=True))
    return 0
