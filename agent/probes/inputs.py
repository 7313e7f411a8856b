"""The golden inputs file: one JSON object a line, ``{"id": "...", "body": {...}}``, each body POSTed as JSON.

Ids name the inputs in the collector's verdict, so they must be unique, non-empty
strings the wire can carry; a file that breaks a rule is refused with the line
that does, before anything is asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envparity.agent.environ import SettingsError
from envparity.agent.wire import MAX_PROBE_INPUTS

MAX_ID_LENGTH = 200  # room left in the wire's 256 characters for a feature server's entity


@dataclass(frozen=True)
class ProbeInput:
    """One golden request: its id and the JSON body to POST."""

    id: str
    body: Any


def load_inputs(path: Path) -> tuple[ProbeInput, ...]:
    """The inputs of a JSON lines file; SettingsError names the file and line of the first bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"golden inputs {path}: {exc}") from None
    inputs: list[ProbeInput] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = _parse(line, seen)
        except ValueError as exc:
            raise SettingsError(f"golden inputs {path}, line {number}: {exc}") from None
        seen.add(item.id)
        inputs.append(item)
    if not inputs:
        raise SettingsError(f"golden inputs {path}: no input")
    if len(inputs) > MAX_PROBE_INPUTS:
        raise SettingsError(f"golden inputs {path}: {len(inputs)} inputs, at most {MAX_PROBE_INPUTS}")
    return tuple(inputs)


def _parse(line: str, seen: set[str]) -> ProbeInput:
    item = json.loads(line)  # json.JSONDecodeError is a ValueError
    if not isinstance(item, dict) or set(item) != {"id", "body"}:
        raise ValueError('expected {"id": "...", "body": ...}')
    ident = item["id"]
    if not isinstance(ident, str) or not ident.strip() or len(ident) > MAX_ID_LENGTH or not _wire_safe(ident):
        raise ValueError(f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters, without NUL")
    if ident in seen:
        raise ValueError(f"id {ident!r} appears twice")
    return ProbeInput(ident, item["body"])


def _wire_safe(text: str) -> bool:
    """No NUL and no lone surrogate: what the wire's strings refuse."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
