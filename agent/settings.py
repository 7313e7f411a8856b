"""Agent settings, with every default read from environment variables in this one place.

| variable                  | meaning                                   | default                  |
|---------------------------|-------------------------------------------|--------------------------|
| ENVPARITY_COLLECTOR       | collector base URL                        | http://127.0.0.1:8400    |
| ENVPARITY_SERVICE         | service name                              | (required)               |
| ENVPARITY_ENVIRONMENT     | environment name                          | (required)               |
| ENVPARITY_TOKEN           | bearer token for the collector            | none                     |
| ENVPARITY_AGENT_ID        | agent id (else kept in the spool)         | <pod or host>-<random>   |
| ENVPARITY_SPOOL_DIR       | spool directory                           | user state dir           |
| ENVPARITY_SPOOL_MAX_BYTES | spool size bound                          | 268435456                |
| ENVPARITY_PUSH_TIMEOUT_S  | HTTP timeout per push                     | 10                       |
| ENVPARITY_CA_FILE         | PEM CA bundle that signed the collector's | the system's CAs         |
|                           | TLS certificate                           |                          |
| ENVPARITY_MAX_ATTEMPTS    | 5xx answers to a snapshot before suspect  | 5                        |
| ENVPARITY_MASK_FEATURES   | auto: mask personal values; off: do not   | auto                     |
| ENVPARITY_MASK_NAMES      | features always masked (comma list)       | none                     |
| ENVPARITY_KEEP_NAMES      | features never masked (comma list)        | none                     |
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from platformdirs import user_state_dir

from envparity.agent.environ import SettingsError, env_int, env_number, env_str, http_url, tls_verify
from envparity.agent.fingerprint import FingerprintSources
from envparity.agent.push import DEFAULT_MAX_ATTEMPTS
from envparity.agent.spool import DEFAULT_MAX_BYTES

DEFAULT_COLLECTOR = "http://127.0.0.1:8400"
MASK_MODES = {"auto": True, "off": False}  # ENVPARITY_MASK_FEATURES, --mask-features


def default_spool_dir(service: str, environment: str) -> Path:
    return Path(user_state_dir("envparity")) / "spool" / f"{service}-{environment}"


class SettingsFields(TypedDict, total=False):
    """The fields of ``AgentSettings`` as keyword arguments: ``Agent(service=..., environment=..., collector=...)``."""

    service: str
    environment: str
    collector: str
    token: str | None
    agent_id: str | None
    spool_dir: Path | None
    spool_max_bytes: int
    push_timeout_s: float
    push_attempts: int
    ca_file: Path | None
    max_attempts: int
    mask_features: bool
    mask_names: frozenset[str]
    keep_names: frozenset[str]
    sources: FingerprintSources


@dataclass(frozen=True)
class AgentSettings:
    service: str
    environment: str
    collector: str = DEFAULT_COLLECTOR
    token: str | None = None
    agent_id: str | None = None
    spool_dir: Path | None = None
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    push_timeout_s: float = 10.0
    push_attempts: int = 4
    ca_file: Path | None = None  # verify the collector's certificate against this CA bundle
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    mask_features: bool = True  # personal feature values masked (``envparity.agent.privacy``)
    mask_names: frozenset[str] = frozenset()
    keep_names: frozenset[str] = frozenset()
    sources: FingerprintSources = field(default_factory=FingerprintSources)

    def __post_init__(self) -> None:
        http_url("collector URL", self.collector)

    def tls_verify(self) -> ssl.SSLContext | bool:
        """How the collector's TLS certificate is verified: against ``ca_file`` when given, else the system's CAs."""
        return tls_verify("CA file", self.ca_file)

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or default_spool_dir(self.service, self.environment)

    @classmethod
    def from_env(cls, **overrides: Any) -> AgentSettings:
        """Settings from ENVPARITY_* variables; keyword arguments (fields, parsed options) that are not None win."""
        from_env = cls(
            service=env_str("ENVPARITY_SERVICE", ""),
            environment=env_str("ENVPARITY_ENVIRONMENT", ""),
            collector=env_str("ENVPARITY_COLLECTOR", DEFAULT_COLLECTOR),
            token=env_str("ENVPARITY_TOKEN"),
            agent_id=env_str("ENVPARITY_AGENT_ID"),
            spool_dir=Path(p) if (p := env_str("ENVPARITY_SPOOL_DIR")) else None,
            spool_max_bytes=env_int("ENVPARITY_SPOOL_MAX_BYTES", DEFAULT_MAX_BYTES),
            push_timeout_s=env_number("ENVPARITY_PUSH_TIMEOUT_S", 10.0),
            ca_file=Path(c) if (c := env_str("ENVPARITY_CA_FILE")) else None,
            max_attempts=env_int("ENVPARITY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS),
            mask_features=mask_mode(env_str("ENVPARITY_MASK_FEATURES", "auto"), "ENVPARITY_MASK_FEATURES"),
            mask_names=names_list(env_str("ENVPARITY_MASK_NAMES", "")),
            keep_names=names_list(env_str("ENVPARITY_KEEP_NAMES", "")),
        )
        settings = replace(from_env, **{k: v for k, v in overrides.items() if v is not None})
        for required in ("service", "environment"):
            if not getattr(settings, required):
                raise SettingsError(f"{required} is required: pass --{required} or set ENVPARITY_{required.upper()}")
        return settings


def mask_mode(value: str, where: str) -> bool:
    """``auto`` (mask personal feature values) or ``off``; a SettingsError names ``where`` otherwise."""
    try:
        return MASK_MODES[value.strip().lower()]
    except KeyError:
        raise SettingsError(f"{where}={value!r}: expected one of {', '.join(MASK_MODES)}") from None


def names_list(value: str) -> frozenset[str]:
    """Feature names from a comma-separated list."""
    return frozenset(name.strip() for name in value.split(",") if name.strip())
