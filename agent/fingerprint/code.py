"""Code fingerprint: Python, installed distributions, container image and revision."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envparity.agent.wire import CodeFingerprint, PythonInfo

IMAGE_ENV = ("ENVPARITY_IMAGE", "IMAGE", "CONTAINER_IMAGE")
IMAGE_DIGEST_ENV = ("ENVPARITY_IMAGE_DIGEST", "IMAGE_DIGEST")
REVISION_ENV = ("ENVPARITY_REVISION", "GIT_COMMIT", "GIT_SHA", "SOURCE_COMMIT", "REVISION")


class PackageSourceError(ValueError):
    """A --packages-from source that cannot be read."""


def _installed(path: list[str] | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=path) if path else metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return dict(sorted(found.items()))


def _pinned_version(line: str) -> tuple[str, str] | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith(("-", "--")):
        return None
    try:
        req = Requirement(line)
    except InvalidRequirement as exc:
        raise PackageSourceError(f"cannot parse requirement line {line!r}: {exc}") from None
    pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
    version = pins[0] if pins else (str(req.url) if req.url else str(req.specifier) or "*")
    return canonicalize_name(req.name), version


def packages_from(source: Path) -> dict[str, str]:
    """Distributions from a site-packages directory or a pip-freeze/requirements lock file."""
    if source.is_dir():
        return _installed([str(source)])
    if not source.is_file():
        raise PackageSourceError(f"--packages-from {source}: no such file or directory")
    found = {}
    for raw in source.read_text().splitlines():
        pinned = _pinned_version(raw)
        if pinned:
            found[pinned[0]] = pinned[1]
    return dict(sorted(found.items()))


def _first_env(names: tuple[str, ...]) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _split_digest(image: str | None, digest: str | None) -> tuple[str | None, str | None]:
    if image and "@sha256:" in image and not digest:
        image, _, hexpart = image.partition("@")
        digest = hexpart
    return image, digest


def code_fingerprint(
    packages_source: Path | None = None,
    image: str | None = None,
    image_digest: str | None = None,
    revision: str | None = None,
) -> CodeFingerprint:
    """Fingerprint the code: this interpreter, its packages (or a given source), image, revision."""
    packages = packages_from(packages_source) if packages_source else _installed()
    image, image_digest = _split_digest(image or _first_env(IMAGE_ENV), image_digest or _first_env(IMAGE_DIGEST_ENV))
    return CodeFingerprint(
        python=PythonInfo(version=platform.python_version(), implementation=platform.python_implementation()),
        packages=packages,
        packages_source=str(packages_source) if packages_source else "importlib",
        image=image,
        image_digest=image_digest,
        revision=revision or _first_env(REVISION_ENV),
    )
