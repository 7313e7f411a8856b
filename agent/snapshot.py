"""Building the snapshot of one window: header, fingerprint (full or by hash), sections."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime

from envparity.agent.wire import (
    Fingerprint,
    GpuSection,
    Header,
    HostIdentity,
    Outcome,
    ProbeSection,
    RequestAggregates,
    Sample,
    Snapshot,
)

AGENT_VERSION = "0.1.0"


def host_identity() -> HostIdentity:
    """Host and pod identity from the Kubernetes downward API variables when present."""
    env = os.environ
    return HostIdentity(
        hostname=socket.gethostname(),
        pod=env.get("POD_NAME") or env.get("HOSTNAME"),
        namespace=env.get("POD_NAMESPACE"),
        node=env.get("NODE_NAME"),
        container=env.get("CONTAINER_NAME"),
    )


def build_snapshot(
    *,
    agent_id: str,
    sequence: int,
    service: str,
    environment: str,
    window_start: datetime,
    window_end: datetime,
    fingerprint: Fingerprint | None,
    acked_fingerprint: str | None = None,
    requests: RequestAggregates | None = None,
    samples: list[Sample] | None = None,
    outcomes: list[Outcome] | None = None,
    gpu: GpuSection | None = None,
    snapshots_lost: Mapping[str, int] | None = None,
    probes: ProbeSection | None = None,
) -> Snapshot:
    """A snapshot; the fingerprint goes by hash alone when the collector already has it.

    ``snapshots_lost``: the agent's losses so far, by reason (``Spool.losses()``), for the collector to show.
    """
    by_hash = fingerprint is not None and fingerprint.hash == acked_fingerprint
    return Snapshot(
        header=Header(
            agent_id=agent_id,
            sequence=sequence,
            service=service,
            environment=environment,
            window_start=window_start,
            window_end=window_end,
            agent_version=AGENT_VERSION,
            host=host_identity(),
            snapshots_lost=dict(snapshots_lost or {}),
        ),
        fingerprint=None if by_hash else fingerprint,
        fingerprint_hash=fingerprint.hash if fingerprint is not None else None,
        requests=requests,
        samples=samples,
        outcomes=outcomes,
        gpu=gpu,
        probes=probes,
    )
