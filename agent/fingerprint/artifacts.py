"""Artifact fingerprint: hashes of model files and directories, and what aliases resolve to."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from envparity.agent.wire import Artifact, ArtifactAlias, ArtifactFile, ArtifactsFingerprint

_CHUNK = 1 << 20


class ArtifactSourceError(ValueError):
    """An artifact path that does not exist or cannot be read."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _directory(path: Path) -> Artifact:
    manifest = {
        f.relative_to(path).as_posix(): ArtifactFile(sha256=file_sha256(f), size_bytes=f.stat().st_size)
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }
    listing = json.dumps({k: v.sha256 for k, v in manifest.items()}, sort_keys=True)
    return Artifact(
        kind="directory",
        sha256=hashlib.sha256(listing.encode()).hexdigest(),
        size_bytes=sum(v.size_bytes for v in manifest.values()),
        manifest=manifest,
    )


def artifact(path: Path) -> Artifact:
    """Hash a file, or every file of a directory into a manifest."""
    if path.is_dir():
        return _directory(path)
    if not path.is_file():
        raise ArtifactSourceError(f"--artifact {path}: no such file or directory")
    return Artifact(kind="file", sha256=file_sha256(path), size_bytes=path.stat().st_size)


def artifacts_fingerprint(
    paths: Mapping[str, Path] | None = None, aliases: Mapping[str, Path] | None = None
) -> ArtifactsFingerprint:
    """Fingerprint artifacts (keyed by logical name), and aliases by what they resolve to."""
    resolved = {}
    for name, path in sorted((aliases or {}).items()):
        if not path.exists():
            raise ArtifactSourceError(f"--artifact-alias {name}={path}: no such file or directory")
        target = path.resolve()
        resolved[name] = ArtifactAlias(target=str(target), sha256=artifact(target).sha256)
    return ArtifactsFingerprint(
        items={name: artifact(path) for name, path in sorted((paths or {}).items())}, aliases=resolved
    )
