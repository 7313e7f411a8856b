"""Parity evaluations against the store: one pair on demand, or every pair on a schedule."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from envparity.collector.parity.dataset import EnvironmentData, ShadowPairs
from envparity.collector.parity.engine import Evaluation, evaluate
from envparity.collector.parity.fingerprint_diff import DiffItem, diff_fingerprints, dimension_parity
from envparity.collector.parity.model import ParityConfig
from envparity.collector.parity.windows import split_environment
from envparity.collector.store import Store
from envparity.collector.store.environment_reader import (
    load_environments,
    load_shadow,
    shares_requests,
)

if TYPE_CHECKING:
    from envparity.agent.wire import Fingerprint

log = logging.getLogger("envparity.collector.parity")
REFERENCE_PREFIX = "ref."
READERS = 2  # services read ahead, each on a thread of its own, while one is compared
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass
class _PairInputs:
    shadow: ShadowPairs | Future[ShadowPairs]  # pending while the store matches shadow requests
    items: list[DiffItem]
    fingerprint_parity: dict[str, float]


@dataclass
class _ServiceInputs:
    """What the store holds for one service's pairs over one window."""

    environments: dict[str, EnvironmentData]
    window: tuple[datetime, datetime]
    pairs: dict[tuple[str, str], _PairInputs | Exception] = field(default_factory=dict)


class ParityService:
    """Evaluates pairs of environments from the store, keeps the latest in memory for /metrics."""

    def __init__(self, store: Store, config: ParityConfig | None = None, window: timedelta = timedelta(hours=1)):
        self.store, self.config, self.window = store, config or ParityConfig(), window
        self.latest: dict[tuple[str, str, str], Evaluation] = {}
        self.last_success: float | None = None
        self.last_duration_s: float | None = None
        self._lock = threading.Lock()
        self._matcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envparity-shadow")

    def _window_for(self, spec: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        return _ALL_TIME if spec.startswith(REFERENCE_PREFIX) else (start, end)

    def _fingerprints(self, service: str, specs: list[str]) -> dict[str, Fingerprint]:
        """The latest fingerprint of each environment named, in one query.

        An earlier window (``production@24h``) shares its environment's; references have none.
        """
        names = {split_environment(spec)[0] for spec in specs}
        return self.store.latest_fingerprints(service, sorted(n for n in names if not n.startswith(REFERENCE_PREFIX)))

    @staticmethod
    def _fingerprint_diff(
        fingerprints: dict[str, Fingerprint], baseline: str, target: str
    ) -> tuple[list[DiffItem], dict[str, float]]:
        """The differences of the two latest fingerprints, and the share of equal entries per dimension."""
        fb, ft = (fingerprints.get(split_environment(spec)[0]) for spec in (baseline, target))
        if fb is None or ft is None:
            return [], {}
        items = diff_fingerprints(fb, ft)
        return items, dimension_parity(fb, ft, items)

    def _read(self, service: str, pairs: list[tuple[str, str]], start: datetime, end: datetime) -> _ServiceInputs:
        """Each environment of the pairs once, and each pair's shadow requests and fingerprint differences.

        A pair whose own reads fail keeps the exception, so that the other pairs still evaluate.
        """
        specs = sorted({spec for pair in pairs for spec in pair})
        environments = load_environments(self.store, service, {s: self._window_for(s, start, end) for s in specs})
        read = _ServiceInputs(environments, (start, end))
        tolerance = self.config.thresholds(service).feature_tolerance
        fingerprints = self._fingerprints(service, specs)
        for baseline, target in pairs:
            try:
                shadow: ShadowPairs | Future[ShadowPairs] = ShadowPairs()
                if shares_requests(environments[baseline], environments[target]):  # matched while compared
                    shadow = self._matcher.submit(
                        load_shadow, self.store, service, baseline, target, start, end, tolerance
                    )
                read.pairs[(baseline, target)] = _PairInputs(
                    shadow, *self._fingerprint_diff(fingerprints, baseline, target)
                )
            except Exception as exc:  # handed to the evaluation, which logs it
                read.pairs[(baseline, target)] = exc
        return read

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
        result = self._evaluate(service, baseline, target, self._read(service, [(baseline, target)], start, end))
        if save:
            self.store.save_evaluations([result])
        return result

    def _evaluate(self, service: str, baseline: str, target: str, read: _ServiceInputs) -> Evaluation:
        """One pair from what was read for its service."""
        inputs = read.pairs[(baseline, target)]
        if isinstance(inputs, Exception):
            raise inputs
        start, end = read.window
        thresholds = self.config.thresholds(service)
        env = read.environments
        result = evaluate(service, env[baseline], env[target], thresholds, inputs.items, inputs.shadow)
        result.fingerprint_parity = inputs.fingerprint_parity
        result.window_start, result.window_end, result.evaluated_at = start, end, datetime.now(UTC)
        with self._lock:
            self.latest[(service, baseline, target)] = result
        return result

    def _save(self, service: str, evaluations: list[Evaluation]) -> None:
        try:
            self.store.save_evaluations(evaluations)
        except Exception:  # the evaluations stay in memory (and on /metrics); the next cycle stores its own
            log.exception("storing the evaluations of %s failed", service)

    def evaluate_all(self) -> list[Evaluation]:
        """Every configured (or default) pair of every service; one failing pair does not stop the rest.

        The next ``READERS`` services are read on threads while this one is compared, and each
        service's evaluations are stored on them too (one transaction per service): the store's
        queries wait on the database and NumPy's work on the CPU, each holding the GIL only in between.
        """
        started = time.perf_counter()
        end = datetime.now(UTC)
        start = end - self.window
        services = [
            (s, [(p.baseline, p.target) for p in self.config.pairs(s, envs)])
            for s, envs in self.store.environment_names().items()
        ]
        services = [(s, pairs) for s, pairs in services if pairs]
        results = []
        with ThreadPoolExecutor(max_workers=READERS) as reader:
            reads = {i: reader.submit(self._read, *item, start, end) for i, item in enumerate(services[:READERS])}
            for i, (service, pairs) in enumerate(services):
                if i + READERS < len(services):
                    reads[i + READERS] = reader.submit(self._read, *services[i + READERS], start, end)
                try:
                    read = reads.pop(i).result()  # popped: its data is let go once evaluated
                except Exception:  # one broken service must not stall every other evaluation
                    log.exception("reading %s failed", service)
                    continue
                evaluated = []
                for baseline, target in pairs:
                    try:
                        evaluated.append(self._evaluate(service, baseline, target, read))
                    except Exception:
                        log.exception("evaluation of %s %s -> %s failed", service, baseline, target)
                reader.submit(self._save, service, evaluated)
                results.extend(evaluated)
        self.last_duration_s = time.perf_counter() - started
        self.last_success = time.time()
        return results
