"""Secret detection and redaction: values that look secret never leave the process.

A value is secret when its key looks secret or the value itself looks like one.

* Keys: any word of the key (split at ``.``, ``_``, ``-`` and camelCase) is a secret
  word (password, pw, passphrase, token, secret, login, credential, webhook, ...), or
  the key ends in ``key`` (``api_key``, ``tls.key``, ``AWS_SECRET_ACCESS_KEY``).
* Values: a JWT, a PEM block, a URL or connection string with a password (``user:pw@``,
  ``?password=``, ``;pwd=``), a webhook URL (Slack, Discord, Teams), an HTTP ``Basic`` or
  ``Bearer`` credential, a command line with ``--password``/``--token``/``-p`` and its
  argument, a well-known token prefix (AWS, GitHub, GitLab, Slack, Stripe, Google,
  OpenAI, npm), or a long high-entropy string.

A secret is reported as present, and compared between environments by an HMAC-like
salted PBKDF2 hash only when the deployment sets its own salt (``ENVPARITY_HASH_SALT``,
the same in every environment): with a public default salt a hash of a weak password
could be checked offline, so without a salt secrets are compared by presence only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
from collections import Counter
from functools import lru_cache

from envparity.agent.wire import ConfigValue

log = logging.getLogger("envparity.agent")

SALT_ENV = "ENVPARITY_HASH_SALT"
_PBKDF2_ROUNDS = 200_000
_MIN_SALT_CHARS = 16

_SECRET_WORDS = frozenset(
    {
        "pass", "passwd", "password", "passwords", "passphrase", "phrase", "pw", "pwd", "pword",
        "secret", "secrets", "token", "tokens", "apikey", "credential", "credentials", "creds", "cred",
        "auth", "authorization", "login", "session", "cookie", "signature", "salt", "dsn", "webhook",
        "privatekey", "accesskey", "secretkey", "connstr", "connectionstring", "jdbc", "bearer", "otp",
        "mfa", "totp", "sas", "hmac", "keystore", "truststore",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_KEY_SUFFIX = re.compile(r"(^|[_.\-])(key|Key|KEY)$|[a-z]Key$|^(key|Key|KEY)[_.\-]")
_NOT_SECRET_KEYS = frozenset({"PWD", "OLDPWD"})  # working directories, not passwords

_I = re.IGNORECASE
_SECRET_VALUE_PATTERNS = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(
        r"\b(gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_\-]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|sk-[A-Za-z0-9_\-]{20,}"
        r"|[sr]k_(live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_\-]{35}|npm_[A-Za-z0-9]{36})"
    ),  # GitHub, GitLab, Slack, OpenAI, Stripe, Google, npm tokens
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"),  # JWT
    re.compile(r"-----BEGIN [A-Z0-9 ]+-----"),  # PEM
    re.compile(r"[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@", _I),  # URL with a password
    re.compile(  # a password in a query string or a connection string (JDBC, ADO.NET, ODBC)
        r"(^|[?&;:\s])(password|passwd|pwd|pass|secret|token|api[_\-]?key|access[_\-]?token|sig|signature)=[^&;\s]+",
        _I,
    ),
    re.compile(r"hooks\.slack\.com/|discord(app)?\.com/api/webhooks/|\.webhook\.office\.com/|hooks\.zapier\.com/", _I),
    re.compile(r"\b([Bb]asic|[Bb]earer|[Dd]igest|BASIC|BEARER)\s+(?=\S*[0-9A-Z+/=])[A-Za-z0-9+/=._\-]{8,}"),  # HTTP
    re.compile(r"(^|\s)--?(password|passwd|pass|pwd|token|secret|api[_\-]?key)(=|\s+)\S+", _I),  # a command line
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_\-.]{20,}")
_ENTROPY_BITS_PER_CHAR = 3.5


def key_looks_secret(key: str) -> bool:
    """True when a variable or config key name suggests a secret."""
    if key in _NOT_SECRET_KEYS:
        return False
    words = {w.lower() for w in _WORD.findall(key)}
    return bool(words & _SECRET_WORDS) or _KEY_SUFFIX.search(key) is not None or any(map(_joined_secret, words))


def _joined_secret(word: str) -> bool:
    """Secret words written together inside one word (``dbpassword``, ``myapikey``)."""
    return any(part in word for part in ("password", "passwd", "passphrase", "apikey", "secret"))


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


def deployment_salt() -> str | None:
    """The deployment's own salt, or None (warned about once) when it is unset or too short to be secret."""
    salt = os.environ.get(SALT_ENV) or None
    if salt is not None and len(salt) < _MIN_SALT_CHARS:
        _warn_once(f"{SALT_ENV} is shorter than {_MIN_SALT_CHARS} characters; secrets are compared by presence only")
        return None
    if salt is None:
        _warn_once(f"{SALT_ENV} is not set; secrets are compared by presence only (set it, the same everywhere)")
    return salt


@lru_cache(maxsize=4)
def _warn_once(message: str) -> None:
    log.warning(message)


@lru_cache(maxsize=4096)
def _salted_hash(value: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", value.encode(), salt.encode(), _PBKDF2_ROUNDS)
    return "pbkdf2-sha256:" + digest.hex()[:32]


def secret_hash(value: str, salt: str | None = None) -> str | None:
    """Salted, slow hash of a secret (equal values, equal hashes under one salt); None without a salt."""
    salt = salt or deployment_salt()
    return _salted_hash(value, salt) if salt else None


def content_hash(data: bytes, salt: str | None = None) -> str | None:
    """A keyed SHA-256 of file contents, or None without a salt: a plain hash would confirm a guessed file."""
    salt = salt or deployment_salt()
    return hmac.new(salt.encode(), data, hashlib.sha256).hexdigest() if salt else None


def config_value(key: str, value: str) -> ConfigValue:
    """Wrap a raw value, redacting it when the key or the value looks secret."""
    if key_looks_secret(key) or value_looks_secret(value):
        return ConfigValue(redacted=True, hash=secret_hash(value))
    return ConfigValue(value=value)
