"""The demo's fraud-scoring model: generated transactions, logistic regression in numpy.

Nothing is downloaded: the data is generated from a seed, the model is trained at
start-up by gradient descent, and the normalisation statistics are computed from
a window of generated data, which is exactly where the demo's production goes wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MERCHANTS = ("grocery", "electronics", "travel", "gaming", "fuel")
NUMERIC = ("amount", "distance_km", "account_age_days", "hour")
_MERCHANT_RISK = {"grocery": -0.6, "electronics": 0.7, "travel": 0.4, "gaming": 0.9, "fuel": -0.3}


def transactions(rng: np.random.Generator, n: int, amount_log_mean: float = 3.6) -> list[dict[str, Any]]:
    """n generated card transactions; ``amount_log_mean`` moves the amount distribution."""
    amount = rng.lognormal(amount_log_mean, 0.9, n)
    merchant = rng.choice(MERCHANTS, n, p=[0.35, 0.15, 0.1, 0.1, 0.3])
    hour = rng.integers(0, 24, n)
    distance = rng.exponential(12.0, n)
    card_present = rng.random(n) < 0.7
    age = rng.uniform(1, 3650, n)
    return [
        {
            "amount": round(float(amount[i]), 2),
            "merchant": str(merchant[i]),
            "hour": int(hour[i]),
            "distance_km": round(float(distance[i]), 2),
            "card_present": bool(card_present[i]),
            "account_age_days": round(float(age[i]), 1),
        }
        for i in range(n)
    ]


def _true_logit(t: dict[str, Any]) -> float:
    return (
        0.9 * (np.log1p(t["amount"]) - 3.6)
        + _MERCHANT_RISK[t["merchant"]]
        + 0.04 * t["distance_km"]
        - 1.3 * t["card_present"]
        - 0.0004 * t["account_age_days"]
        + (0.8 if t["hour"] < 6 else 0.0)
        - 1.5
    )


@dataclass(frozen=True)
class Normalisation:
    """Mean and std of each numeric feature over one data window (shipped with the model)."""

    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def from_window(cls, rows: list[dict[str, Any]]) -> Normalisation:
        cols = {f: np.array([r[f] for r in rows], dtype=float) for f in NUMERIC}
        cols["amount"] = np.log1p(cols["amount"])
        return cls({f: float(c.mean()) for f, c in cols.items()}, {f: float(c.std()) for f, c in cols.items()})

    def scale(self, t: dict[str, Any]) -> dict[str, float]:
        raw = {f: float(t[f]) for f in NUMERIC}
        raw["amount"] = float(np.log1p(raw["amount"]))
        return {f"{f}_z": (raw[f] - self.mean[f]) / self.std[f] for f in NUMERIC}

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean, "std": self.std}, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> Normalisation:
        data = json.loads(path.read_text())
        return cls(data["mean"], data["std"])


def _vector(t: dict[str, Any], norm: Normalisation) -> np.ndarray:
    z = norm.scale(t)
    onehot = [1.0 if t["merchant"] == m else 0.0 for m in MERCHANTS]
    return np.array([*(z[f"{f}_z"] for f in NUMERIC), float(t["card_present"]), 1.0 if t["hour"] < 6 else 0.0, *onehot])


@dataclass
class FraudModel:
    version: str
    weights: np.ndarray
    norm: Normalisation

    @classmethod
    def train(cls, version: str, seed: int, norm: Normalisation, n: int = 6000, epochs: int = 300) -> FraudModel:
        """Logistic regression by full-batch gradient descent on generated, labelled transactions."""
        rng = np.random.default_rng(seed)
        rows = transactions(rng, n)
        x = np.stack([_vector(t, norm) for t in rows])
        p_true = 1 / (1 + np.exp(-np.array([_true_logit(t) for t in rows])))
        y = (rng.random(n) < p_true).astype(float)
        w = np.zeros(x.shape[1] + 1)
        xb = np.hstack([x, np.ones((n, 1))])
        for _ in range(epochs):
            p = 1 / (1 + np.exp(-xb @ w))
            w -= 0.5 * xb.T @ (p - y) / n
        return cls(version, w, norm)

    def score(self, t: dict[str, Any]) -> float:
        logit = float(np.append(_vector(t, self.norm), 1.0) @ self.weights)
        return float(1 / (1 + np.exp(-logit)))


def true_label(t: dict[str, Any], rng: np.random.Generator) -> int:
    """The outcome a chargeback would reveal later."""
    return int(rng.random() < 1 / (1 + np.exp(-_true_logit(t))))
