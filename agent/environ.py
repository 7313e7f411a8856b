"""Reading settings from environment variables, checking URLs and CA files: one place, one error type, no heavy imports.

The command line reads its defaults from here while it builds its parser, so this
module must stay cheap to import.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, overload
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl
    from pathlib import Path


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


def env_int(name: str, default: int) -> int:
    """A whole number (``1000`` or ``1e3``); SettingsError for a fraction, NaN or infinity rather than a silent cut."""
    value = env_number(name, default)
    if not math.isfinite(value) or value != int(value):
        raise SettingsError(f"{name}={os.environ.get(name)!r} is not a whole number")
    return int(value)


def http_url(what: str, value: str) -> str:
    """``value`` if it is an http or https URL with a host; else SettingsError, one line naming ``what``."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port that is no number, a malformed IPv6 host
        valid = False
    if not valid:
        raise SettingsError(f"{what} {value!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8400")
    return value


def tls_verify(what: str, ca_file: Path | None) -> ssl.SSLContext | bool:
    """How a collector's TLS certificate is verified: against ``ca_file`` when given, else the system's CAs (True).

    A missing file, or one that holds no certificate, is a SettingsError, one line naming ``what``.
    """
    if ca_file is None:
        return True
    import ssl  # here, not with the module, which stays cheap to import

    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:
        raise SettingsError(f"{what} {ca_file}: {exc}") from None
