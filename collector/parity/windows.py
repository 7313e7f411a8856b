"""Window specifications: durations (``15m``) and environments with an offset (``production@24h``)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``, ``2w`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"duration {text!r} is not like 30s, 15m, 1h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def split_environment(spec: str) -> tuple[str, timedelta]:
    """``production@24h`` -> (``production``, 24 h); a plain name has no offset."""
    name, _, offset = spec.partition("@")
    return name, parse_duration(offset) if offset else timedelta(0)


def is_earlier_window_of(baseline: str, target: str) -> bool:
    """Whether ``baseline`` is an earlier window of ``target`` itself (``production@24h`` of ``production``)."""
    name, at, offset = baseline.partition("@")
    return bool(at) and name == target.partition("@")[0] and _DURATION.match(offset.strip()) is not None
