"""Parity evaluations against the store: one pair on demand, or every pair on a schedule."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from envparity.collector.parity.engine import Evaluation, evaluate
from envparity.collector.parity.fingerprint_diff import DiffItem, diff_fingerprints, dimension_parity
from envparity.collector.parity.model import ParityConfig
from envparity.collector.parity.store_reader import load_environment, load_shadow, split_environment
from envparity.collector.store import Store

log = logging.getLogger("envparity.collector.parity")
REFERENCE_PREFIX = "ref."
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class ParityService:
    """Evaluates pairs of environments from the store, keeps the latest in memory for /metrics."""

    def __init__(self, store: Store, config: ParityConfig | None = None, window: timedelta = timedelta(hours=1)):
        self.store, self.config, self.window = store, config or ParityConfig(), window
        self.latest: dict[tuple[str, str, str], Evaluation] = {}
        self.last_success: float | None = None
        self.last_duration_s: float | None = None
        self._lock = threading.Lock()

    def _window_for(self, spec: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        return _ALL_TIME if spec.startswith(REFERENCE_PREFIX) else (start, end)

    def _fingerprint_diff(self, service: str, baseline: str, target: str) -> tuple[list[DiffItem], dict[str, float]]:
        """The differences of the two latest fingerprints, and the share of equal entries per dimension."""
        names = [split_environment(e)[0] for e in (baseline, target)]
        if any(n.startswith(REFERENCE_PREFIX) for n in names):
            return [], {}
        fb, ft = (self.store.latest_fingerprint(service, n) for n in names)
        if fb is None or ft is None:
            return [], {}
        items = diff_fingerprints(fb, ft)
        return items, dimension_parity(fb, ft, items)

    def evaluate_pair(
        self,
        service: str,
        baseline: str,
        target: str,
        window: timedelta | None = None,
        end: datetime | None = None,
        save: bool = True,
    ) -> Evaluation:
        end = end or datetime.now(UTC)
        start = end - (window or self.window)
        thresholds = self.config.thresholds(service)
        base = load_environment(self.store, service, baseline, *self._window_for(baseline, start, end))
        targ = load_environment(self.store, service, target, *self._window_for(target, start, end))
        shadow = load_shadow(self.store, service, baseline, target, start, end, thresholds.feature_tolerance)
        items, fingerprint_parity = self._fingerprint_diff(service, baseline, target)
        result = evaluate(service, base, targ, thresholds, items, shadow)
        result.fingerprint_parity = fingerprint_parity
        result.window_start, result.window_end, result.evaluated_at = start, end, datetime.now(UTC)
        if save:
            self.store.save_evaluation(result)
        with self._lock:
            self.latest[(service, baseline, target)] = result
        return result

    def evaluate_all(self) -> list[Evaluation]:
        """Every configured (or default) pair of every service; one failing pair does not stop the rest."""
        started = time.perf_counter()
        results = []
        for service, environments in self.store.environment_names().items():
            for pair in self.config.pairs(service, environments):
                try:
                    results.append(self.evaluate_pair(service, pair.baseline, pair.target))
                except Exception:  # one broken pair must not stall every other evaluation
                    log.exception("evaluation of %s %s -> %s failed", service, pair.baseline, pair.target)
        self.last_duration_s = time.perf_counter() - started
        self.last_success = time.time()
        return results
