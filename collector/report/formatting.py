"""How the HTML report writes values, times and in-page anchors."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any


def number(value: Any) -> str:
    """A value as a person reads it: 4 significant digits for floats, text as it is."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    return "" if value is None else str(value)


def cell_class(value: Any) -> str:
    """``num`` for a number (kept on one line), ``long`` for text that may wrap anywhere (a hash, a path)."""
    return "long" if isinstance(value, str) else "num"


def when(value: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None:
        return "now"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def anchor(kind: str, name: str) -> str:
    """An element id for an in-page link: ``kind-name`` with anything but letters, digits, ``_`` and ``-`` as ``-``."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"
