"""Secret detection and redaction: values that look secret never leave the process.

A value is secret when its key's name looks secret (password, token, api key,
credential, ...) or the value itself looks like one (a JWT, a PEM block, a URL
with a password, a well-known token prefix, or a long high-entropy string). A
secret is reported as present plus a salted PBKDF2 hash, so that two
environments can tell that a secret differs without anyone learning it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from functools import lru_cache

from envparity.agent.wire import ConfigValue

SALT_ENV = "ENVPARITY_HASH_SALT"
_DEFAULT_SALT = "envparity-v1-default-salt"
_PBKDF2_ROUNDS = 200_000

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_.\-]?key|access[_.\-]?key|private[_.\-]?key"
    r"|credential|auth|session|cookie|signature|salt|(^|[_.\-])key$|^key[_.\-]|dsn|conn(ection)?_?str)",
    re.IGNORECASE,
)
_SECRET_VALUE_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),  # JWT
    re.compile(r"-----BEGIN [A-Z0-9 ]+-----"),  # PEM
    re.compile(r"[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE),  # URL with password
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|sk-[A-Za-z0-9_\-]{20,})"),
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_\-.]{20,}")
_ENTROPY_BITS_PER_CHAR = 3.5


_NOT_SECRET_KEYS = frozenset({"PWD", "OLDPWD"})  # working directories, not passwords


def key_looks_secret(key: str) -> bool:
    """True when a variable or config key name suggests a secret."""
    return key not in _NOT_SECRET_KEYS and bool(_SECRET_KEY.search(key))


def _shannon_bits_per_char(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def value_looks_secret(value: str) -> bool:
    """True when a value looks like a credential whatever its key is called."""
    if any(p.search(value) for p in _SECRET_VALUE_PATTERNS):
        return True
    token = value.strip()
    if not _TOKEN_CHARS.fullmatch(token) or token.startswith(("/", "./", "../")):
        return False  # sentences, URLs without credentials and paths are not tokens
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 2 and _shannon_bits_per_char(token) >= _ENTROPY_BITS_PER_CHAR


@lru_cache(maxsize=4096)
def _salted_hash(value: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", value.encode(), salt.encode(), _PBKDF2_ROUNDS)
    return "pbkdf2-sha256:" + digest.hex()[:32]


def secret_hash(value: str, salt: str | None = None) -> str:
    """Salted, slow hash of a secret; equal values give equal hashes under one salt."""
    return _salted_hash(value, salt or os.environ.get(SALT_ENV) or _DEFAULT_SALT)


def config_value(key: str, value: str) -> ConfigValue:
    """Wrap a raw value, redacting it when the key or the value looks secret."""
    if key_looks_secret(key) or value_looks_secret(value):
        return ConfigValue(redacted=True, hash=secret_hash(value))
    return ConfigValue(value=value)
