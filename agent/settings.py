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
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from platformdirs import user_state_dir

from envparity.agent.environ import SettingsError, env_number, env_str, http_url
from envparity.agent.fingerprint import FingerprintSources
from envparity.agent.spool import DEFAULT_MAX_BYTES

DEFAULT_COLLECTOR = "http://127.0.0.1:8400"


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
    sources: FingerprintSources = field(default_factory=FingerprintSources)

    def __post_init__(self) -> None:
        http_url("collector URL", self.collector)

    def tls_verify(self) -> ssl.SSLContext | bool:
        """How the collector's TLS certificate is verified: against ``ca_file`` when given, else the system's CAs."""
        if self.ca_file is None:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except OSError as exc:  # a missing file, or one that holds no certificate
            raise SettingsError(f"CA file {self.ca_file}: {exc}") from None

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
            spool_max_bytes=int(env_number("ENVPARITY_SPOOL_MAX_BYTES", DEFAULT_MAX_BYTES)),
            push_timeout_s=env_number("ENVPARITY_PUSH_TIMEOUT_S", 10.0),
            ca_file=Path(c) if (c := env_str("ENVPARITY_CA_FILE")) else None,
        )
        settings = replace(from_env, **{k: v for k, v in overrides.items() if v is not None})
        for required in ("service", "environment"):
            if not getattr(settings, required):
                raise SettingsError(f"{required} is required: pass --{required} or set ENVPARITY_{required.upper()}")
        return settings
