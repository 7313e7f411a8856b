"""Fingerprint routes: the latest fingerprint of an environment, and the differences between two."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from envparity.collector.api.deps import READ, ParityDep, ReadableService, StoreDep
from envparity.collector.api.errors import ApiError
from envparity.collector.api.queries import Name
from envparity.collector.parity.fingerprint_diff import diff_fingerprints, diff_status

router = APIRouter(dependencies=READ)


def _missing(service: str, environments: list[str]) -> ApiError:
    return ApiError(404, f"no fingerprint stored for {service}/{', '.join(environments)}")


@router.get("/v1/fingerprints")
def fingerprint(store: StoreDep, service: ReadableService, environment: Name) -> dict[str, Any]:
    fp = store.latest_fingerprint(service, environment)
    if fp is None:
        raise _missing(service, [environment])
    return fp.model_dump(mode="json")


@router.get("/v1/fingerprints/diff")
def fingerprint_diff(
    store: StoreDep, parity: ParityDep, service: ReadableService, baseline: Name, target: Name
) -> dict[str, Any]:
    """The differences under the service's rules of the policy file, as the evaluations judge them."""
    fps = store.latest_fingerprints(service, [baseline, target])
    missing = [env for env in (baseline, target) if env not in fps]
    if missing:
        raise _missing(service, missing)
    items = diff_fingerprints(fps[baseline], fps[target], parity.config.rules(service))
    return {
        "service": service,
        "baseline": baseline,
        "target": target,
        "status": diff_status(items),
        "items": [i.as_dict() for i in items],
    }
