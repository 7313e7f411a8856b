"""The demo's feature pipeline: what an environment's lock file, config and artifacts make of a transaction.

Each of the incident's differences changes behaviour here:

* the pandas version pinned in the lock file selects how the velocity feature, a
  grouped rolling count of the card's attempts in the last hour, treats attempts
  whose amount is missing (the declined probes of a fraud burst): the 1.5.x
  behaviour counts them, the 2.x behaviour skips them (the demo's stand-in for a
  library upgrade that changes how missing values are counted);
* a feature-store cache (``feature_store.cache_ttl_s`` in the config) serves a
  card's velocity as it was when first read, until the TTL passes;
* the normalisation statistics file scales ``amount``, ``distance_km`` and
  ``account_age_days``;
* ``hour`` is read in the server's local time (``TZ``), not in UTC: a bug that only
  shows where the hosts do not run on UTC.

Time is the transactions' own (the demo's simulated clock), for the rolling
window and the cache alike.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from envparity.demo.model import FraudModel, Normalisation, transactions, vector

WINDOW_S = 3600.0
TRAINING_ROWS = 6000


def pandas_version(lock_file: Path) -> str:
    """The pandas version a lock file pins."""
    for line in lock_file.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == "pandas":
            return version.strip()
    raise ValueError(f"{lock_file} pins no pandas version")


@dataclass
class FeatureStore:
    """The online store: every attempt seen per card (its time and amount, None when missing)."""

    attempts: dict[str, list[tuple[float, float | None]]] = field(default_factory=lambda: defaultdict(list))

    def log(self, card: str, at: float, amount: float | None) -> None:
        self.attempts[card].append((at, amount))

    def window(self, card: str, start: float, end: float) -> list[float | None]:
        return [amount for at, amount in self.attempts[card] if start <= at < end]


@dataclass
class FeaturePipeline:
    """Turns a transaction into the model's features, as one environment's settings make it."""

    norm: Normalisation
    counts_missing: bool = True  # the pandas 1.5.x behaviour of the rolling count
    cache_ttl_s: float = 0.0
    local_time: bool = False
    store: FeatureStore = field(default_factory=FeatureStore)
    _cache: dict[str, tuple[float, int]] = field(default_factory=dict)

    @classmethod
    def of_environment(cls, lock_file: Path, config_file: Path, normalisation_file: Path) -> FeaturePipeline:
        """The pipeline an environment's files configure (its hours read in the process's local time)."""
        config = json.loads(config_file.read_text())["feature_store"]
        return cls(
            Normalisation.load(normalisation_file),
            counts_missing=pandas_version(lock_file).startswith("1."),
            cache_ttl_s=float(config.get("cache_ttl_s", 0)),
            local_time=True,
        )

    def _rolling_count(self, card: str, at: float) -> int:
        amounts = self.store.window(card, at - WINDOW_S, at)
        return len(amounts) if self.counts_missing else sum(a is not None for a in amounts)

    def velocity(self, card: str, at: float) -> int:
        """The card's attempts in the hour before ``at``: from the cache while it is fresh."""
        cached = self._cache.get(card)
        if cached is not None and at - cached[0] < self.cache_ttl_s:
            return cached[1]
        count = self._rolling_count(card, at)
        if self.cache_ttl_s > 0:
            self._cache[card] = (at, count)
        return count

    def features(self, tx: dict[str, Any]) -> dict[str, Any]:
        """The features of a transaction (KeyError, TypeError, ValueError when malformed); logs the attempt."""
        at = datetime.fromisoformat(tx["timestamp"]).timestamp()
        amount = tx.get("amount")
        velocity = self.velocity(tx["card_id"], at)
        self.store.log(tx["card_id"], at, amount)
        hour = (datetime.fromtimestamp(at) if self.local_time else datetime.fromtimestamp(at, UTC)).hour
        return {
            "merchant": tx["merchant"],
            "card_present": tx["card_present"],
            "amount": tx["amount"],
            **self.norm.scale(tx),
            "hour": hour,
            "txn_count_1h": velocity,
        }


def reference_model(version: str, seed: int) -> FraudModel:
    """The model artifact as it was built: trained on features of the reference pipeline.

    That pipeline reads hours in UTC and velocity fresh with the 1.5.x count, and scales
    with the statistics of the last 30 days, the ones shipped with the model.
    """
    pipeline = FeaturePipeline(Normalisation.of_window("30d"))
    rows, labels = [], []
    for tx, label in islice(transactions(seed), TRAINING_ROWS):
        try:
            rows.append(vector(pipeline.features(tx)))
        except KeyError:  # a probe without an amount: declined, never scored
            continue
        labels.append(label)
    return FraudModel.train(version, np.stack(rows), np.array(labels, dtype=float))
