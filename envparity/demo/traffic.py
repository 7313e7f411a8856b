"""The demo's traffic: transactions to production, and their labels, late, to both environments.

Production mirrors every request to staging (shadow traffic, same request id), so
the two see the same transactions. Labels arrive the way chargebacks do: a while
after the transaction (``LABEL_DELAY_S`` on the simulated clock), in batches; the
ones still outstanding when the traffic stops are posted at the end.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from envparity.demo.model import transactions

LABEL_DELAY_S = 2 * 3600.0  # simulated seconds between a transaction and its label
LABEL_BATCH = 50


@dataclass
class TrafficReport:
    sent: int = 0
    rejected: int = 0
    labels: int = 0
    pending: deque[tuple[float, str, int]] = field(default_factory=deque)  # (due, request id, label)


def _post_labels(clients: list[httpx.Client], report: TrafficReport, until: float | None) -> None:
    """The labels due by ``until`` (all with None), in batches, to every environment."""
    batch = []
    while report.pending and (until is None or report.pending[0][0] <= until):
        _, request_id, label = report.pending.popleft()
        batch.append({"request_id": request_id, "outcome": label})
    for start in range(0, len(batch), LABEL_BATCH):
        for client in clients:
            client.post("/outcomes", json={"outcomes": batch[start : start + LABEL_BATCH]})
    report.labels += len(batch)


def send_traffic(
    production: str, environments: list[str], seconds: float, rate_per_s: float = 40.0, seed: int = 30
) -> TrafficReport:
    """Send generated transactions to ``production`` for ``seconds``; labels go to every one of ``environments``."""
    report = TrafficReport()
    client = httpx.Client(base_url=production, timeout=5.0)
    labels = [httpx.Client(base_url=url, timeout=30.0) for url in environments]
    stream = transactions(seed)
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        tx, label = next(stream)
        request_id = f"req-{i:06d}"
        try:
            response = client.post("/predict", json={"request_id": request_id, "features": tx})
            report.sent += 1
            report.rejected += response.status_code >= 400
            if response.status_code == 200:
                at = datetime.fromisoformat(tx["timestamp"]).timestamp()
                report.pending.append((at + LABEL_DELAY_S, request_id, label))
                if i % LABEL_BATCH == 0:
                    _post_labels(labels, report, until=at)
        except httpx.HTTPError:
            report.rejected += 1
        i += 1
        time.sleep(max(0.0, 1.0 / rate_per_s - 0.001))
    _post_labels(labels, report, until=None)
    for c in (client, *labels):
        c.close()
    return report
