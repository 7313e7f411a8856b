"""Fingerprints: what an environment is (code, config, artifacts, compute), as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from envparity.agent.fingerprint.artifacts import artifacts_fingerprint
from envparity.agent.fingerprint.code import code_fingerprint
from envparity.agent.fingerprint.compute import compute_fingerprint
from envparity.agent.fingerprint.config import config_fingerprint
from envparity.agent.gpu import gpu_identities
from envparity.agent.wire import Fingerprint, FingerprintBody, seal_fingerprint

__all__ = [
    "FingerprintSources",
    "take_fingerprint",
]


@dataclass(frozen=True)
class FingerprintSources:
    """Where a fingerprint is read from; every field is optional."""

    packages_from: Path | None = None
    image: str | None = None
    image_digest: str | None = None
    revision: str | None = None
    env_prefixes: tuple[str, ...] = ()
    config_files: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    artifact_aliases: dict[str, Path] = field(default_factory=dict)


def take_fingerprint(sources: FingerprintSources | None = None) -> Fingerprint:
    """Fingerprint this environment from the given sources."""
    src = sources or FingerprintSources()
    body = FingerprintBody(
        code=code_fingerprint(src.packages_from, src.image, src.image_digest, src.revision),
        config=config_fingerprint(src.config_files, src.env_prefixes or None),
        artifacts=artifacts_fingerprint(src.artifacts, src.artifact_aliases),
        compute=compute_fingerprint(gpu_identities()),
    )
    return seal_fingerprint(body)
