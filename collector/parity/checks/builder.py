"""The one builder of a check row: its name from ``check_specs``, the threshold that judged it from ``Thresholds``.

Every layer module builds its rows with ``make_check``. A check judged by a field
of ``Thresholds`` reports that field's value as its threshold; a check no field
judges shows ``reference`` there instead (the baseline's side of a fingerprint
entry, a retyped feature's baseline kind, a fixed limit) or nothing. An unknown
check name raises ``KeyError``.
"""

from __future__ import annotations

from envparity.collector.parity.check_specs import check_spec
from envparity.collector.parity.model import Check, Layer, Status, Thresholds


def make_check(
    t: Thresholds,
    *,
    layer: Layer,
    check: str,
    subject: str,
    value: float | str | None,
    status: Status,
    detail: str,
    reference: float | str | None = None,
) -> Check:
    """A check row named in ``check_specs``, with the threshold its spec names (or ``reference``)."""
    field = check_spec(check).threshold
    threshold = reference if field is None else getattr(t, field)
    return Check(
        layer=layer, check=check, subject=subject, value=value, threshold=threshold, status=status, detail=detail
    )


def insufficient(t: Thresholds, layer: Layer, subject: str, nb: int, nt: int) -> Check:
    """The row of a comparison with fewer than ``min_samples`` values on a side: not judged."""
    return make_check(
        t,
        layer=layer,
        check="drift",
        subject=subject,
        value=float(min(nb, nt)),
        status="insufficient_data",
        detail=f"insufficient data: {nb} baseline and {nt} target values (minimum {t.min_samples})",
    )
