"""Bearer tokens and their scopes: what each token may write, which services it may read, /metrics.

The tokens file is YAML::

    protect_metrics: false                  # true: /metrics needs a token with `metrics: true`
    tokens:
      - name: fraud-staging-agents
        token: "plain-text token"          # or sha256: "<hex digest of the token>"
        write: ["fraud/staging"]            # service/environment globs this token may write
      - name: fraud-team
        sha256: "<hex digest>"
        read: ["fraud"]                     # service globs this token may query; ["*"] for every service
      - name: prometheus
        token: "another token"
        metrics: true                       # may scrape /metrics when it is protected

Scopes are granted, never implied: a token may write only what ``write`` names
and read only the services ``read`` names (none by default, so an agent's token
cannot read), and ``/openapi.json`` and ``/docs`` need a token that may read
something. Row counts over every service (``/v1/store``) need ``read: ["*"]``.
``read: true`` (the format before read scopes) means every service.

Without a tokens file every request is allowed; the collector then binds only to
loopback unless started with ``--insecure``.

The file is re-read when it changes: at most once a second, a request looks at
what the path resolves to (inode, modification time, size), following symbolic
links, so a Kubernetes Secret volume, which swaps its ``..data`` link to a new
folder on an update, takes effect within seconds without a restart. A file that
no longer reads or parses is logged once and the tokens read before stay in force.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import logging
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ALL = "*"
RECHECK_S = 1.0  # how often a request may look whether the tokens file changed
log = logging.getLogger("envparity.collector")


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token: what a tokens file's ``sha256`` holds and what a login session remembers."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokensFileError(ValueError):
    """A tokens file that cannot be read or does not follow the schema."""


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    token: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    write: list[str] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    metrics: bool = False

    @field_validator("read", mode="before")
    @classmethod
    def _read_all_or_none(cls, value: Any) -> Any:
        """``read: true`` / ``false`` from tokens files written before read scopes."""
        return ([ALL] if value else []) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"token {self.name!r}: give exactly one of 'token' or 'sha256'")
        return self

    @property
    def digest(self) -> str:
        return self.sha256 or token_digest(self.token or "")

    def may_write(self, service: str, environment: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{service}/{environment}", g) for g in self.write)

    def may_read(self, service: str) -> bool:
        return any(fnmatch.fnmatchcase(service, g) for g in self.read)

    def require_write(self, service: str, environment: str) -> None:
        if not self.may_write(service, environment):
            raise AuthError(403, f"token {self.name!r} may not write {service}/{environment}")

    def require_read(self, service: str) -> None:
        if not self.may_read(service):
            raise AuthError(403, f"token {self.name!r} may not read {service}")

    def require_some_read(self) -> None:
        """The gate of every read route: the token may read at least one service."""
        if not self.read:
            raise AuthError(403, f"token {self.name!r} may not read")

    def require_read_all(self) -> None:
        if ALL not in self.read:
            raise AuthError(403, f"token {self.name!r} may not read every service (read: ['*'])")


# Who a request is when no tokens file is given: every scope.
ANYONE = TokenEntry(name="anyone", token="", write=[ALL], read=[ALL], metrics=True)


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protect_metrics: bool = False
    tokens: list[TokenEntry]

    @classmethod
    def read(cls, path: Path) -> TokensFile:
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise TokensFileError(f"tokens file {path}: {exc}") from None


def _version(path: Path) -> tuple[int, int, int] | None:
    """What ``path`` resolves to now (inode, modification time, size), links followed; None if it cannot be reached."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


class Authorizer:
    """Answers who a bearer token is; the first gate of every route that needs a scope."""

    def __init__(
        self, entries: list[TokenEntry] | None, protect_metrics: bool = False, path: Path | None = None
    ) -> None:
        if protect_metrics and entries is None:
            raise TokensFileError("protecting /metrics needs a tokens file with a token that has `metrics: true`")
        self.enabled = entries is not None
        self.protect_metrics = self._protect_flag = protect_metrics
        self._entries = entries or []
        self._path = path  # the tokens file, re-read when it changes
        self._version = _version(path) if path else None
        self._next_check = time.monotonic() + RECHECK_S
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path | None, protect_metrics: bool = False) -> Authorizer:
        """The tokens of ``path`` (none: everything allowed); ``protect_metrics`` adds to the file's setting."""
        if path is None:
            return cls(None, protect_metrics)
        authorizer = cls([], protect_metrics, path)
        authorizer._apply(TokensFile.read(path))
        return authorizer

    def _apply(self, parsed: TokensFile) -> None:
        self._entries = parsed.tokens
        self.protect_metrics = self._protect_flag or parsed.protect_metrics

    def _refresh(self) -> None:
        """Re-read the tokens file if what its path resolves to changed; keep the tokens in force if it is broken."""
        if self._path is None or time.monotonic() < self._next_check:
            return
        with self._lock:
            if time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + RECHECK_S
            version = _version(self._path)
            if version == self._version:
                return
            self._version = version
            try:
                parsed = TokensFile.read(self._path)
            except TokensFileError as exc:
                log.error("%s; the tokens read before stay in force", exc)
                return
            self._apply(parsed)
            log.info("tokens file %s re-read: %d tokens", self._path, len(parsed.tokens))

    def by_digest(self, digest: str) -> TokenEntry | None:
        """The token whose SHA-256 is ``digest``, as the tokens file says now; None when it names none."""
        self._refresh()
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                return entry
        return None

    def identify(self, authorization: str | None) -> TokenEntry:
        """The token of an ``Authorization`` header (401 when missing or unknown); ANYONE without a tokens file."""
        if not self.enabled:
            return ANYONE
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "missing bearer token (Authorization: Bearer <token>)")
        entry = self.by_digest(token_digest(token.strip()))
        if entry is None:
            raise AuthError(401, "unknown token")
        return entry

    def writer(self, authorization: str | None) -> TokenEntry:
        """A token that may write something: checked before a body is read (which pair: once it is parsed)."""
        entry = self.identify(authorization)
        if not entry.write:
            raise AuthError(403, f"token {entry.name!r} may not write")
        return entry

    def reader(self, authorization: str | None) -> TokenEntry:
        """A token that may read some service: the gate of every read route, the API description included."""
        entry = self.identify(authorization)
        entry.require_some_read()
        return entry

    def check_metrics(self, authorization: str | None) -> None:
        """When /metrics is protected, a token with the ``metrics`` scope."""
        self._refresh()
        if self.protect_metrics and not (entry := self.identify(authorization)).metrics:
            raise AuthError(403, f"token {entry.name!r} may not read /metrics")
