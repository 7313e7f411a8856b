"""The demo's fraud-scoring model: a stream of card transactions with fraud bursts, logistic regression in numpy.

Nothing is downloaded: transactions are generated from a seed on a simulated clock
(``STEP_S`` simulated seconds apart, so the demo's 45 s cover most of a day). A
fraud burst takes over a card for under an hour: a few declined probes without an
amount, then large card-not-present purchases far from home, mostly at night (UTC).
The model is trained at start-up by gradient descent on features the reference
pipeline computed (``features.REFERENCE``), with the normalisation statistics
shipped with it: those of the last 30 days.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

MERCHANTS = ("grocery", "electronics", "travel", "gaming", "fuel")
SCALED = ("amount", "distance_km", "account_age_days")  # the features scaled by the normalisation statistics
START = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
STEP_S = 45.0  # simulated seconds between two transactions
CARDS = 300
_NORMAL_MERCHANTS = (0.4, 0.1, 0.1, 0.05, 0.35)
_FRAUD_MERCHANTS = (0.2, 0.3, 0.15, 0.2, 0.15)
# amount log-mean and log-std of the data window each set of normalisation statistics came from: the last
# 30 days (the model's own) and the last 3 years, when purchases were smaller and more varied
WINDOW_AMOUNT = {"30d": (3.6, 0.8), "3y": (3.3, 1.3)}
WINDOW_ACCOUNT_AGE_DAYS = {"30d": 1825.0, "3y": 1200.0}


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _normal(rng: np.random.Generator, card: int, t: float, age: float) -> dict[str, Any]:
    return {
        "card_id": f"card-{card:04d}",
        "timestamp": _when(t),
        "amount": round(float(rng.lognormal(3.6, 0.8)), 2),
        "merchant": str(rng.choice(MERCHANTS, p=_NORMAL_MERCHANTS)),
        "distance_km": round(float(rng.exponential(10.0)), 2),
        "card_present": bool(rng.random() < 0.75),
        "account_age_days": age,
    }


def _burst(rng: np.random.Generator, card: int, t: float, age: float) -> list[tuple[float, dict[str, Any], int]]:
    """A stolen card's attempts over the next hour: declined probes without an amount, then purchases."""
    attempts, at = [], t
    for i in range(int(rng.integers(3, 7))):
        at += float(rng.uniform(60, 600))
        tx = {
            "card_id": f"card-{card:04d}",
            "timestamp": _when(at),
            "merchant": str(rng.choice(MERCHANTS, p=_FRAUD_MERCHANTS)),
            "distance_km": round(float(rng.exponential(80.0)), 2),
            "card_present": bool(rng.random() < 0.15),
            "account_age_days": age,
        }
        if i >= 2:  # the first two attempts probe the card: no amount, declined
            tx["amount"] = round(float(rng.lognormal(5.0, 0.6)), 2)
        attempts.append((at, tx, 1))
    return attempts


def _burst_chance(t: float) -> float:
    """Bursts start mostly at night, UTC (the fraud ring's day)."""
    return 0.05 if datetime.fromtimestamp(t, UTC).hour < 6 else 0.012


def transactions(seed: int, start: float = START, step_s: float = STEP_S) -> Iterator[tuple[dict[str, Any], int]]:
    """Transactions in time order, each with its true label (1: fraud), without end."""
    rng = np.random.default_rng(seed)
    ages = np.round(rng.uniform(1, 3650, CARDS), 1)
    scheduled: list[tuple[float, int, dict[str, Any], int]] = []  # heap of burst attempts (time, order, tx, label)
    t, order = start, 0
    while True:
        t += step_s
        if rng.random() < _burst_chance(t):
            card = int(rng.integers(CARDS))
            for at, tx, label in _burst(rng, card, t, float(ages[card])):
                order += 1
                heapq.heappush(scheduled, (at, order, tx, label))
        if scheduled and scheduled[0][0] <= t:
            _, _, tx, label = heapq.heappop(scheduled)
            yield tx, label
        else:
            card = int(rng.integers(CARDS))
            yield _normal(rng, card, t, float(ages[card])), 0


def window_sample(window: str, n: int = 5000, seed: int = 7) -> dict[str, np.ndarray]:
    """The scaled features' raw values over a data window, as the normalisation statistics were computed from."""
    rng = np.random.default_rng(seed)
    return {
        "amount": rng.lognormal(*WINDOW_AMOUNT[window], n),
        "distance_km": rng.exponential(10.0, n),
        "account_age_days": rng.normal(WINDOW_ACCOUNT_AGE_DAYS[window], 1000.0, n).clip(1, None),
    }


@dataclass(frozen=True)
class Normalisation:
    """Mean and std of each scaled feature (amount as log1p) over one data window, shipped with the model."""

    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def of_window(cls, window: str) -> Normalisation:
        cols = window_sample(window)
        cols["amount"] = np.log1p(cols["amount"])
        return cls({f: float(c.mean()) for f, c in cols.items()}, {f: float(c.std()) for f, c in cols.items()})

    def scale(self, tx: dict[str, Any]) -> dict[str, float]:
        raw = {f: float(tx[f]) for f in SCALED}
        raw["amount"] = float(np.log1p(raw["amount"]))
        return {f"{f}_z": (raw[f] - self.mean[f]) / self.std[f] for f in SCALED}

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean, "std": self.std}, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> Normalisation:
        data = json.loads(path.read_text())
        return cls(data["mean"], data["std"])


def vector(features: dict[str, Any]) -> np.ndarray:
    """The model's inputs from the pipeline's features."""
    onehot = [1.0 if features["merchant"] == m else 0.0 for m in MERCHANTS]
    return np.array(
        [
            *(features[f"{f}_z"] for f in SCALED),
            float(features["card_present"]),
            1.0 if features["hour"] < 6 else 0.0,
            min(float(features["txn_count_1h"]), 5.0),
            *onehot,
            1.0,
        ]
    )


@dataclass
class FraudModel:
    version: str
    weights: np.ndarray

    @classmethod
    def train(cls, version: str, x: np.ndarray, y: np.ndarray, epochs: int = 400) -> FraudModel:
        """Logistic regression by full-batch gradient descent."""
        w = np.zeros(x.shape[1])
        for _ in range(epochs):
            p = 1 / (1 + np.exp(-x @ w))
            w -= 0.5 * x.T @ (p - y) / len(y)
        return cls(version, w)

    def score(self, features: dict[str, Any]) -> float:
        return float(1 / (1 + np.exp(-vector(features) @ self.weights)))
