"""Reading settings from environment variables: one place, one error type, no heavy imports.

The command line reads its defaults from here while it builds its parser, so this
module must stay cheap to import.
"""

from __future__ import annotations

import os
from typing import overload


class SettingsError(ValueError):
    """A missing or malformed setting."""


@overload
def env_str(name: str) -> str | None: ...
@overload
def env_str(name: str, default: str) -> str: ...
def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
