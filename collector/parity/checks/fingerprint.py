"""The fingerprint dimensions: each difference between the two latest fingerprints as a check of its dimension.

Code, config, artifacts and compute differences come from ``fingerprint_diff``
with the severity its rules gave them; the check is named by the kind of entry
(a package, an environment variable, a config file key, ...), or by the entry
itself where it is one of a kind (``image``, ``cpu_count``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envparity.collector.parity.checks.builder import make_check
from envparity.collector.parity.model import Check, Layer, Status, Thresholds

if TYPE_CHECKING:  # fingerprint items come from the store; files have none
    from envparity.collector.parity.diff_rules import Dimension
    from envparity.collector.parity.fingerprint_diff import DiffItem

_CHECK_FOR_KEY = (
    ("package:", "package"),
    ("python.", "python"),
    ("env:", "env_var"),
    ("file:", "config_key"),
    ("artifact:", "artifact_hash"),
    ("alias:", "artifact_alias"),
    ("gpu", "gpu"),
)
_LAYER: dict[Dimension, Layer] = {
    "code": "fingerprint.code",
    "config": "fingerprint.config",
    "artifacts": "fingerprint.artifacts",
    "compute": "fingerprint.compute",
}


def fingerprint_checks(items: list[DiffItem], t: Thresholds) -> list[Check]:
    """One check per difference: its severity as the status, the target's value against the baseline's."""
    checks = []
    for item in items:
        check = next((name for prefix, name in _CHECK_FOR_KEY if item.key.startswith(prefix)), item.key)
        status: Status = "fail" if item.severity == "fail" else "warn" if item.severity == "warn" else "ok"
        checks.append(
            make_check(
                t,
                layer=_LAYER[item.dimension],
                check=check,
                subject=item.key,
                value=item.target,
                status=status,
                detail=item.detail,
                reference=item.baseline,
            )
        )
    return checks
