"""Severity rules of the fingerprint diff: their strict schema, the defaults, and reading a rules file.

A rule matches a difference by dimension, key (shell-style patterns), change and
version level, and gives it a severity; the first matching rule wins. A user's
rules (``fingerprint diff --rules``, the ``rules:`` of a thresholds file) come
before the defaults. The schema is strict: an unknown field or a dimension, change,
level or severity that does not exist is an error naming where it is, because a
typo (``dimension: cod``) would otherwise match nothing and silently change
nothing.

Default rules, in order:

* ignore host-specific variables (``HOSTNAME``, ``POD_*``, ``KUBERNETES_*``, ...);
* packages and Python: a major or minor version change fails, a patch change
  warns, an added or removed package warns;
* image, image digest and revision changes warn;
* every other config key (added, removed, changed) fails;
* every artifact change fails;
* GPU differences fail, other compute differences warn.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Dimension = Literal["code", "config", "artifacts", "compute"]
Change = Literal["added", "removed", "changed"]
Severity = Literal["fail", "warn", "info", "ignore"]
Level = Literal["major", "minor", "patch", "other"]


class DiffRule(BaseModel):
    """One severity rule; every field it names must match (``*`` matches anything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dimension: Literal[Dimension, "*"] = "*"
    key: str = Field(default="*", min_length=1)
    change: Literal[Change, "*"] = "*"
    level: Literal[Level, "*"] = "*"
    severity: Severity


class DiffRules(BaseModel):
    """A rules file: ``rules:`` and nothing else."""

    model_config = ConfigDict(extra="forbid")

    rules: list[DiffRule] = Field(default_factory=list)


_IGNORED_ENV = (
    "HOSTNAME",
    "HOST_IP",
    "POD_*",
    "NODE_NAME",
    "KUBERNETES_*",
    "*_SERVICE_HOST",
    "*_SERVICE_PORT*",
    "*_PORT_*_TCP*",
    "HOME",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "TERM*",
    "SSH_*",
    "ENVPARITY_ENVIRONMENT",
    "ENVPARITY_AGENT_ID",
)

DEFAULT_RULES: tuple[DiffRule, ...] = (
    *(DiffRule(dimension="config", key=f"env:{name}", severity="ignore") for name in _IGNORED_ENV),
    DiffRule(dimension="code", key="package:*", change="changed", level="major", severity="fail"),
    DiffRule(dimension="code", key="package:*", change="changed", level="minor", severity="fail"),
    DiffRule(dimension="code", key="package:*", change="changed", level="other", severity="fail"),
    DiffRule(dimension="code", key="package:*", severity="warn"),
    DiffRule(dimension="code", key="python.version", level="patch", severity="warn"),
    DiffRule(dimension="code", key="python.*", severity="fail"),
    DiffRule(dimension="code", severity="warn"),
    DiffRule(dimension="config", severity="fail"),
    DiffRule(dimension="artifacts", severity="fail"),
    DiffRule(dimension="compute", key="gpu*", severity="fail"),
    DiffRule(dimension="compute", severity="warn"),
)


class RulesError(ValueError):
    """A rules or thresholds file that cannot be read or does not follow its schema."""


def validation_message(exc: ValidationError, where: str = "") -> str:
    """Each error of a validation on one line: the dotted location of the key, what is wrong, the value given."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in (*([where] if where else []), *error["loc"]))
        given = "" if error["type"] == "missing" else f" (got {error['input']!r})"
        lines.append(f"{location or 'file'}: {error['msg']}{given}")
    return "; ".join(lines)


def load_rules(path: Path | None) -> tuple[DiffRule, ...]:
    """A user's rules from a YAML file (``rules:``), followed by the defaults."""
    if path is None:
        return DEFAULT_RULES
    import yaml  # only a rules file needs YAML

    try:
        data = yaml.safe_load(path.read_text()) or {}
        user = DiffRules.model_validate(data).rules
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"rules file {path}: {exc}") from None
    except ValidationError as exc:
        raise RulesError(f"rules file {path}: {validation_message(exc)}") from None
    return with_defaults(user)


def with_defaults(*user: Iterable[DiffRule]) -> tuple[DiffRule, ...]:
    """User rule lists in the order given (the first match wins), then the defaults."""
    return (*(rule for rules in user for rule in rules), *DEFAULT_RULES)
