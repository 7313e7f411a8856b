"""Fingerprint diff: added, removed and changed items between two fingerprints, with severity.

Each fingerprint is flattened to ``(dimension, key) -> value`` entries, then the
two are compared. Severity comes from an ordered rule list (first match wins;
``diff_rules``: a user's rules, then the defaults). Secrets are compared by their
salted hash and always shown as ``[redacted]``.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

from envparity.agent.wire import ConfigValue, Fingerprint
from envparity.collector.parity.diff_rules import DEFAULT_RULES, Change, DiffRule, Dimension, Level, Severity

REDACTED = "[redacted]"


@dataclass(frozen=True)
class DiffItem:
    dimension: Dimension
    change: Change
    key: str
    baseline: str | None
    target: str | None
    severity: Severity
    detail: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "dimension": self.dimension,
            "change": self.change,
            "key": self.key,
            "baseline": self.baseline,
            "target": self.target,
            "severity": self.severity,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Entry:
    shown: str | None
    compared: str | None
    secret: bool = False


def _config_entry(value: ConfigValue) -> _Entry:
    if value.redacted:
        return _Entry(REDACTED, value.hash, secret=True)
    return _Entry(value.value, value.value)


def _plain(value: object) -> _Entry:
    text = None if value is None else str(value)
    return _Entry(text, text)


def _flatten(fp: Fingerprint) -> Iterator[tuple[tuple[Dimension, str], _Entry]]:
    code = fp.code
    yield ("code", "python.version"), _plain(code.python.version)
    yield ("code", "python.implementation"), _plain(code.python.implementation)
    for field in ("image", "image_digest", "revision"):
        if getattr(code, field) is not None:
            yield ("code", field), _plain(getattr(code, field))
    for name, version in code.packages.items():
        yield ("code", f"package:{name}"), _plain(version)
    for name, value in fp.config.env.items():
        yield ("config", f"env:{name}"), _config_entry(value)
    for fname, cfile in fp.config.files.items():
        for key, value in cfile.keys.items():
            yield ("config", f"file:{fname}:{key}"), _config_entry(value)
    for name, art in fp.artifacts.items.items():
        yield ("artifacts", f"artifact:{name}"), _Entry(f"sha256:{art.sha256[:12]}", art.sha256)
    for name, alias in fp.artifacts.aliases.items():
        target = alias.target.rsplit("/", 1)[-1]
        yield ("artifacts", f"alias:{name}"), _Entry(f"{target} (sha256:{alias.sha256[:12]})", alias.sha256)
    compute = fp.compute.model_dump(exclude={"gpus"})
    for field, value in compute.items():
        if value is not None:
            yield ("compute", field), _plain(value)
    yield ("compute", "gpu.count"), _plain(len(fp.compute.gpus))
    for gpu in fp.compute.gpus:
        for field in (
            "name",
            "memory_total_bytes",
            "driver_version",
            "cuda_driver_version",
            "compute_capability",
            "mig_mode",
        ):
            value = getattr(gpu, field)
            if value is not None:
                yield ("compute", f"gpu{gpu.index}.{field}"), _plain(value)


def version_level(old: str | None, new: str | None) -> Level:
    """How far apart two versions are: major, minor, patch, or other (unparseable)."""
    try:
        a, b = Version(str(old)), Version(str(new))
    except InvalidVersion:
        return "other"
    ra, rb = (*a.release, 0, 0, 0)[:3], (*b.release, 0, 0, 0)[:3]
    if ra[0] != rb[0]:
        return "major"
    if ra[1] != rb[1]:
        return "minor"
    return "patch"


def _severity(rules: Iterable[DiffRule], dim: str, key: str, change: Change, level: Level) -> Severity:
    for rule in rules:
        if (
            fnmatch.fnmatchcase(dim, rule.dimension)
            and fnmatch.fnmatchcase(key, rule.key)
            and rule.change in ("*", change)
            and rule.level in ("*", level)
        ):
            return rule.severity
    return "info"


def _detail(key: str, change: Change, base: _Entry | None, targ: _Entry | None, level: Level) -> str:
    if change == "added":
        return f"{key} is only in the target"
    if change == "removed":
        return f"{key} is only in the baseline"
    if (base and base.secret) or (targ and targ.secret):
        return f"{key}: secret value differs (compared by salted hash, not shown)"
    if key.startswith("package:") or key == "python.version":
        return f"{key}: {level} version change {base.shown if base else None} -> {targ.shown if targ else None}"
    return f"{key}: {base.shown if base else None} -> {targ.shown if targ else None}"


def diff_fingerprints(
    baseline: Fingerprint, target: Fingerprint, rules: Iterable[DiffRule] = DEFAULT_RULES
) -> list[DiffItem]:
    """Every difference between two fingerprints, ignored ones left out, failures first."""
    rules = tuple(rules)
    base, targ = dict(_flatten(baseline)), dict(_flatten(target))
    items = []
    for dim, key in sorted(base.keys() | targ.keys()):
        b, t = base.get((dim, key)), targ.get((dim, key))
        if b is not None and t is not None and b.compared == t.compared:
            continue
        change: Change = "added" if b is None else "removed" if t is None else "changed"
        level = version_level(b.compared, t.compared) if b and t and dim == "code" else "other"
        severity = _severity(rules, dim, key, change, level)
        if severity == "ignore":
            continue
        items.append(
            DiffItem(
                dim,
                change,
                key,
                b.shown if b else None,
                t.shown if t else None,
                severity,
                _detail(key, change, b, t, level),
            )
        )
    order = {"fail": 0, "warn": 1, "info": 2}
    return sorted(items, key=lambda i: (order[i.severity], i.dimension, i.key))


def dimension_parity(baseline: Fingerprint, target: Fingerprint, items: Iterable[DiffItem]) -> dict[str, float]:
    """Per dimension, the share of entries (of either fingerprint) that do not differ; ignored keys count as equal."""
    keys = {*(k for k, _ in _flatten(baseline)), *(k for k, _ in _flatten(target))}
    total = Counter(dim for dim, _ in keys)
    different = Counter(i.dimension for i in items)
    return {dim: round(1 - different[dim] / n, 6) for dim, n in sorted(total.items())}


def diff_status(items: Iterable[DiffItem]) -> Literal["fail", "warn", "ok"]:
    severities = {i.severity for i in items}
    return "fail" if "fail" in severities else "warn" if "warn" in severities else "ok"
