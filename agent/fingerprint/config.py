"""Config fingerprint: environment variables and config files flattened to dotted keys.

Environment variables are sent only when their names start with an allowed prefix
(``DEFAULT_ENV_PREFIXES``, the variables that change how models and their numeric
libraries behave, plus the prefixes a deployment adds with ``--env-prefix``): an
allow-list, so a variable nobody thought of never leaves the host. Values of secret-
looking keys and values are redacted; a file's content hash is keyed with the
deployment's salt (a plain hash would confirm a guessed file) and absent without one.
"""

from __future__ import annotations

import configparser
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from envparity.agent.fingerprint.secrets import config_value, content_hash
from envparity.agent.wire import ConfigFile, ConfigFingerprint, ConfigValue

# The agent's own settings (ENVPARITY_*) are not the model's environment: they are left out.
DEFAULT_ENV_PREFIXES: tuple[str, ...] = (
    "MODEL_",
    "FEATURE_",
    "CUDA_",
    "NVIDIA_",
    "CUBLAS_",
    "CUDNN_",
    "NCCL_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "TF_",
    "TORCH_",
    "PYTORCH_",
    "XLA_",
    "JAX_",
    "HF_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "MLFLOW_",
    "PYTHONHASHSEED",
    "PYTHONOPTIMIZE",
    "TZ",
    "LANG",
    "LC_ALL",
)

_FORMATS = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".conf": "ini",
    ".env": "env",
}


class ConfigSourceError(ValueError):
    """A config file that is missing or cannot be parsed."""


def detect_format(path: Path) -> str:
    """The config format of a file, by its suffix (a file named ``.env`` is dotenv)."""
    if path.name == ".env" or path.name.endswith(".env"):
        return "env"
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigSourceError(f"{path}: unknown config format; use one of {sorted(set(_FORMATS.values()))}")
    return fmt


def _parse(path: Path, fmt: str, text: str) -> Any:
    if fmt == "yaml":
        return yaml.safe_load(text)
    if fmt == "json":
        return json.loads(text)
    if fmt == "toml":
        return tomllib.loads(text)
    if fmt == "ini":
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text, source=str(path))
        return {section: dict(parser[section]) for section in parser.sections()}
    return dict(dotenv_values(path))


def _scalar_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings and lists to ``a.b.0.c`` keys with text values."""
    if isinstance(data, Mapping):
        items: Iterable[tuple[Any, Any]] = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return {prefix or "value": _scalar_text(data)}
    flat: dict[str, str] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_file(path: Path) -> ConfigFile:
    """Parse, flatten and hash one config file, redacting secret keys and values."""
    fmt = detect_format(path)
    try:
        raw = path.read_bytes()
        data = _parse(path, fmt, raw.decode())
    except FileNotFoundError:
        raise ConfigSourceError(f"--config-file {path}: no such file") from None
    except (ValueError, yaml.YAMLError, configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigSourceError(f"{path}: not valid {fmt}: {str(exc).splitlines()[0]}") from None
    keys = {key: config_value(key, text) for key, text in flatten(data or {}).items()}
    return ConfigFile(sha256=content_hash(raw), format=fmt, keys=dict(sorted(keys.items())))


def env_fingerprint(environ: Mapping[str, str], prefixes: Iterable[str] | None = None) -> dict[str, ConfigValue]:
    """Environment variables whose names start with an allowed prefix: the defaults and ``prefixes``."""
    wanted = (*DEFAULT_ENV_PREFIXES, *(prefixes or ()))
    return {name: config_value(name, value) for name, value in sorted(environ.items()) if name.startswith(wanted)}


def config_fingerprint(
    files: Mapping[str, Path] | None = None,
    env_prefixes: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigFingerprint:
    """Fingerprint environment variables and config files (keyed by logical name)."""
    return ConfigFingerprint(
        env=env_fingerprint(os.environ if environ is None else environ, env_prefixes),
        files={name: config_file(path) for name, path in sorted((files or {}).items())},
    )
