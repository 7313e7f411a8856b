"""The demo's traffic: the same transactions, with the same request ids, sent to both environments."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import numpy as np

from envparity.demo.model import transactions, true_label


@dataclass
class TrafficReport:
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    outcomes: int = 0


def send_traffic(
    targets: dict[str, str],
    seconds: float,
    rate_per_s: float = 40.0,
    seed: int = 42,
    bad_every: int = 50,
    outcome_every: int = 4,
) -> TrafficReport:
    """Send generated transactions to every target for ``seconds``; report what was sent."""
    rng = np.random.default_rng(seed)
    report = TrafficReport(sent=dict.fromkeys(targets, 0), failed=dict.fromkeys(targets, 0))
    clients = {name: httpx.Client(base_url=url, timeout=5.0) for name, url in targets.items()}

    def send(name: str, body: dict, outcome: int | None) -> None:
        try:
            response = clients[name].post("/predict", json=body)
            report.sent[name] += 1
            report.failed[name] += response.status_code >= 400
            if outcome is not None and response.status_code == 200:
                clients[name].post("/outcome", json={"request_id": body["request_id"], "outcome": outcome})
        except httpx.HTTPError:
            report.failed[name] += 1

    deadline, i = time.monotonic() + seconds, 0
    with ThreadPoolExecutor(max_workers=2 * len(targets)) as pool:
        while time.monotonic() < deadline:
            tx = transactions(rng, 1)[0]
            if bad_every and i % bad_every == bad_every - 1:
                tx.pop("amount")  # a malformed request: both environments should reject it
            outcome = true_label(tx, rng) if "amount" in tx and i % outcome_every == 0 else None
            report.outcomes += outcome is not None
            body = {"request_id": f"req-{i:06d}", "features": tx}
            futures = [pool.submit(send, name, body, outcome) for name in targets]
            for f in futures:
                f.result()
            i += 1
            time.sleep(max(0.0, 1.0 / rate_per_s - 0.001))
    for client in clients.values():
        client.close()
    return report
