"""Command-line options that say where a fingerprint is read from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envparity.agent.fingerprint import FingerprintSources


def _named_path(text: str, option: str, require_name: bool = False) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep:
        if require_name:
            raise ValueError(f"{option} expects NAME=PATH, got {text!r}")
        return Path(text).name, Path(text)
    if not name or not path:
        raise ValueError(f"{option} expects NAME=PATH, got {text!r}")
    return name, Path(path)


def add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fingerprint sources")
    group.add_argument(
        "--packages-from",
        type=Path,
        metavar="PATH",
        help="site-packages directory or pip-freeze/requirements lock file (default: this interpreter's distributions)",
    )
    group.add_argument("--image", help="container image (default: $ENVPARITY_IMAGE)")
    group.add_argument("--image-digest", help="image digest (default: $ENVPARITY_IMAGE_DIGEST)")
    group.add_argument("--revision", help="code revision (default: $ENVPARITY_REVISION)")
    group.add_argument(
        "--env-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="also send environment variables starting with PREFIX (repeatable; defaults: docs/configuration.md)",
    )
    group.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="YAML/JSON/TOML/INI/.env file, flattened to dotted keys (repeatable)",
    )
    group.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="model file or directory to hash (repeatable)",
    )
    group.add_argument(
        "--artifact-alias",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="alias (e.g. model-latest) and the path it resolves to (repeatable)",
    )


def sources_from_args(args: argparse.Namespace) -> FingerprintSources:
    from envparity.agent.fingerprint import FingerprintSources

    return FingerprintSources(
        packages_from=args.packages_from,
        image=args.image,
        image_digest=args.image_digest,
        revision=args.revision,
        env_prefixes=tuple(args.env_prefix),
        config_files=dict(_named_path(t, "--config-file") for t in args.config_file),
        artifacts=dict(_named_path(t, "--artifact") for t in args.artifact),
        artifact_aliases=dict(_named_path(t, "--artifact-alias", True) for t in args.artifact_alias),
    )
