"""Bearer tokens and what each may write: a staging token cannot write production.

The tokens file is YAML::

    tokens:
      - name: fraud-staging-agents
        token: "plain-text token"          # or sha256: "<hex digest of the token>"
        write: ["fraud/staging"]            # service/environment globs
        read: true                          # may query the API (default true)

Without a tokens file every request is allowed; the collector then binds only to
loopback unless started with ``--insecure``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


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
    read: bool = True

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"token {self.name!r}: give exactly one of 'token' or 'sha256'")
        return self

    @property
    def digest(self) -> str:
        return self.sha256 or hashlib.sha256((self.token or "").encode()).hexdigest()

    def may_write(self, service: str, environment: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{service}/{environment}", g) for g in self.write)


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry]


class Authorizer:
    """Answers who a bearer token is, and whether it may read or write a pair."""

    def __init__(self, entries: list[TokenEntry] | None) -> None:
        self.enabled = entries is not None
        self._entries = entries or []

    @classmethod
    def from_file(cls, path: Path | None) -> Authorizer:
        if path is None:
            return cls(None)
        try:
            parsed = TokensFile.model_validate(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise TokensFileError(f"tokens file {path}: {exc}") from None
        return cls(parsed.tokens)

    def _identify(self, authorization: str | None) -> TokenEntry:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "missing bearer token (Authorization: Bearer <token>)")
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                return entry
        raise AuthError(401, "unknown token")

    def check_read(self, authorization: str | None) -> None:
        if self.enabled and not self._identify(authorization).read:
            raise AuthError(403, "this token may not read")

    def check_write(self, authorization: str | None, service: str, environment: str) -> None:
        if not self.enabled:
            return
        entry = self._identify(authorization)
        if not entry.may_write(service, environment):
            raise AuthError(403, f"token {entry.name!r} may not write {service}/{environment}")
