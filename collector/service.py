"""Evaluation policy: every pair on a schedule, one pair on demand, and which evaluation a reader is served.

Reading never changes state: only the scheduled cycle (``evaluate_all``) stores
evaluations and changes what the Prometheus gauges export; a one-off evaluation
(a fresh check, an earlier window, a report view) is computed and handed back.
Every evaluation ranks its probable causes with the evidence the store holds: the
service's declared lineage, when fingerprint keys changed (both environments'
fingerprint histories) and when each symptom began failing (the previous stored
evaluation of the pair).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from envparity.collector.parity.causes import HORIZON, CauseAnalysis, rank_causes
from envparity.collector.parity.checks.golden import GoldenProbes
from envparity.collector.parity.dataset import EnvironmentData, ShadowPairs
from envparity.collector.parity.diff_rules import DiffRule
from envparity.collector.parity.engine import evaluate
from envparity.collector.parity.fingerprint_diff import DiffItem, diff_fingerprints, dimension_parity
from envparity.collector.parity.model import Check, ParityConfig
from envparity.collector.parity.record import EvaluationRecord
from envparity.collector.parity.timeline import first_failed, key_changes
from envparity.collector.parity.windows import split_environment
from envparity.collector.store import Store
from envparity.collector.store.environment_reader import (
    load_environments,
    load_shadow,
    shares_requests,
)
from envparity.collector.store.history import failing_since, fingerprint_histories
from envparity.collector.store.leases import Leases
from envparity.collector.store.probes import read_probes
from envparity.collector.store.resources import DEFAULT_MAX_SAMPLES, MIN_MAX_SAMPLES

if TYPE_CHECKING:
    from envparity.agent.wire import Fingerprint

log = logging.getLogger("envparity.collector.parity")
REFERENCE_PREFIX = "ref."
READERS = 2  # services read ahead, each on a thread of its own, while one is compared
_ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
Pair = tuple[str, str, str]  # service, baseline, target


class NotFound(LookupError):
    """The store holds nothing for what was asked: an environment without data, or no evaluation then."""


@dataclass(frozen=True)
class ReportView:
    """What the report page of a pair shows."""

    evaluation: EvaluationRecord
    history: list[EvaluationRecord]  # newest first
    choices: dict[str, list[str]]  # service -> environments with data


@dataclass
class _PairInputs:
    shadow: ShadowPairs | Future[ShadowPairs]  # pending while the store matches shadow requests
    items: list[DiffItem]
    fingerprint_parity: dict[str, float]
    changed_at: dict[str, datetime]  # fingerprint key -> its last change, in either environment
    failing_since: dict[str, datetime]  # symptom -> start of its streak, as the previous evaluation recorded
    golden: GoldenProbes  # both environments' answers to the golden probes


@dataclass
class _ServiceInputs:
    """What the store holds for one service's pairs over one window."""

    environments: dict[str, EnvironmentData]
    window: tuple[datetime, datetime]
    pairs: dict[tuple[str, str], _PairInputs | Exception] = field(default_factory=dict)


class ParityService:
    """Evaluates pairs of environments from the store; keeps the scheduled evaluations in memory for /metrics."""

    def __init__(
        self,
        store: Store,
        config: ParityConfig | None = None,
        window: timedelta = timedelta(hours=1),
        max_samples: int | None = DEFAULT_MAX_SAMPLES,
    ):
        if max_samples is not None and max_samples < MIN_MAX_SAMPLES:
            raise ValueError(f"max_samples {max_samples}: at least {MIN_MAX_SAMPLES:,}, or the checks lack samples")
        self.store, self.config, self.window, self.max_samples = store, config or ParityConfig(), window, max_samples
        self._exported: dict[Pair, EvaluationRecord] = {}
        self.last_success: float | None = None
        self.last_duration_s: float | None = None
        self._lock = threading.Lock()
        self._matcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envparity-shadow")

    def _window_for(self, spec: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        return _ALL_TIME if spec.startswith(REFERENCE_PREFIX) else (start, end)

    @staticmethod
    def _fingerprinted(specs: list[str]) -> list[str]:
        """The environments whose fingerprints the specs read: an earlier window (``production@24h``) shares
        its environment's; references have none."""
        names = {split_environment(spec)[0] for spec in specs}
        return sorted(n for n in names if not n.startswith(REFERENCE_PREFIX))

    def _fingerprints(self, service: str, specs: list[str]) -> dict[str, Fingerprint]:
        """The latest fingerprint of each environment named, in one query."""
        return self.store.latest_fingerprints(service, self._fingerprinted(specs))

    @staticmethod
    def _fingerprint_diff(
        fingerprints: dict[str, Fingerprint], baseline: str, target: str, rules: tuple[DiffRule, ...]
    ) -> tuple[list[DiffItem], dict[str, float]]:
        """The differences of the two latest fingerprints under the service's rules, and the share of equal entries."""
        fb, ft = (fingerprints.get(split_environment(spec)[0]) for spec in (baseline, target))
        if fb is None or ft is None:
            return [], {}
        items = diff_fingerprints(fb, ft, rules)
        return items, dimension_parity(fb, ft, items)

    def _read(self, service: str, pairs: list[tuple[str, str]], start: datetime, end: datetime) -> _ServiceInputs:
        """Each environment of the pairs once, and each pair's shadow requests and fingerprint differences.

        A pair whose own reads fail keeps the exception, so that the other pairs still evaluate.
        """
        specs = sorted({spec for pair in pairs for spec in pair})
        windows = {s: self._window_for(s, start, end) for s in specs}
        environments = load_environments(self.store, service, windows, self.max_samples)
        answers, tolerances = read_probes(self.store, service, windows), self.config.golden_tolerances(service)
        read = _ServiceInputs(environments, (start, end))
        tolerance, rules = self.config.thresholds(service).feature_tolerance, self.config.rules(service)
        fingerprints = self._fingerprints(service, specs)
        streaks = {pair: self._streaks(service, pair, end) for pair in pairs}
        # A change counts as time evidence up to HORIZON before a symptom first failed: older ones need not be read.
        began = [at for streak in streaks.values() if not isinstance(streak, Exception) for at in streak.values()]
        since = min([end, *began]) - HORIZON
        histories = fingerprint_histories(self.store, service, self._fingerprinted(specs), end, since)
        for baseline, target in pairs:
            try:
                streak = streaks[(baseline, target)]
                if isinstance(streak, Exception):
                    raise streak
                shadow: ShadowPairs | Future[ShadowPairs] = ShadowPairs()
                if shares_requests(environments[baseline], environments[target]):  # matched while compared
                    shadow = self._matcher.submit(
                        load_shadow, self.store, service, baseline, target, start, end, tolerance
                    )
                changed = key_changes([histories.get(n, []) for n in self._fingerprinted([baseline, target])], rules)
                read.pairs[(baseline, target)] = _PairInputs(
                    shadow,
                    *self._fingerprint_diff(fingerprints, baseline, target, rules),
                    changed_at=changed,
                    failing_since=streak,
                    golden=GoldenProbes(answers[baseline], answers[target], tolerances),
                )
            except Exception as exc:  # handed to the evaluation, which logs it
                read.pairs[(baseline, target)] = exc
        return read

    def _streaks(self, service: str, pair: tuple[str, str], end: datetime) -> dict[str, datetime] | Exception:
        """When each symptom of the pair's current streak first failed, or why that could not be read (that pair's
        evaluation fails with it; the others go on)."""
        try:
            return failing_since(self.store, service, *pair, end)
        except Exception as exc:
            return exc

    def check_known(self, service: str, *environments: str, names: dict[str, list[str]] | None = None) -> None:
        """Raise NotFound naming the environments without data (``names``: the store's, when already read).

        A reference (``ref.NAME``) needs none; an earlier window (``production@24h``) needs its environment's.
        """
        known = (names if names is not None else self.store.environment_names()).get(service, [])
        missing = [
            e for e in environments if split_environment(e)[0] not in known and not e.startswith(REFERENCE_PREFIX)
        ]
        if missing:
            raise NotFound(f"no data for {service}/{', '.join(missing)}")

    def latest(
        self,
        service: str,
        baseline: str,
        target: str,
        at: datetime | None = None,
        fresh: bool = False,
        window: timedelta | None = None,
    ) -> EvaluationRecord:
        """The evaluation to serve for a pair.

        The newest stored one (with ``at``: the newest at or before it, else NotFound); a one-off
        evaluation when ``fresh`` or a ``window`` is asked for (of the window ending at ``at`` when
        given), or when none is stored yet.
        """
        if not fresh and (at is not None or window is None):
            stored = self.store.evaluations(service, baseline, target, at=at)
            if stored:
                return stored[0]
            if at is not None:
                raise NotFound(f"no evaluation of {service} {baseline} -> {target} at or before {at.isoformat()}")
        self.check_known(service, baseline, target)
        return self.evaluate_pair(service, baseline, target, window, end=at)

    def report(
        self, service: str | None = None, baseline: str | None = None, target: str | None = None, fresh: bool = False
    ) -> ReportView:
        """The report of a pair: the first service and its first pair unless named, with the stored history."""
        choices = self.store.environment_names()
        if not choices:
            raise NotFound("No environment has reported yet.")
        service = service or sorted(choices)[0]
        if baseline is None or target is None:
            pairs = self.config.pairs(service, choices.get(service, []))
            if not pairs:
                raise NotFound(f"{service} has fewer than two environments.")
            baseline, target = baseline or pairs[0].baseline, target or pairs[0].target
        self.check_known(service, baseline, target, names=choices)
        history = self.store.evaluations(service, baseline, target, limit=50)
        return ReportView(self.latest(service, baseline, target, fresh=fresh), history, choices)

    def evaluate_pair(
        self, service: str, baseline: str, target: str, window: timedelta | None = None, end: datetime | None = None
    ) -> EvaluationRecord:
        """A one-off evaluation of the window ending at ``end`` (default now); neither stored nor exported."""
        end = end or datetime.now(UTC)
        start = end - (window or self.window)
        return self._evaluate(service, baseline, target, self._read(service, [(baseline, target)], start, end))

    def _evaluate(self, service: str, baseline: str, target: str, read: _ServiceInputs) -> EvaluationRecord:
        """One pair from what was read for its service."""
        inputs = read.pairs[(baseline, target)]
        if isinstance(inputs, Exception):
            raise inputs
        start, end = read.window
        thresholds = self.config.thresholds(service)
        env = read.environments
        result = evaluate(service, env[baseline], env[target], thresholds, inputs.items, inputs.shadow, inputs.golden)
        result.fingerprint_parity = inputs.fingerprint_parity
        result.probable_causes = self._causes(service, result.checks, inputs, end)
        result.window_start, result.window_end, result.evaluated_at = start, end, datetime.now(UTC)
        return EvaluationRecord.of(result)

    def _causes(self, service: str, checks: list[Check], inputs: _PairInputs, at: datetime) -> CauseAnalysis:
        """The ranked causes of one evaluation whose data window ends ``at``."""
        began = first_failed(checks, inputs.failing_since, at)
        return rank_causes(checks, self.config.lineage(service), inputs.changed_at, began)

    def exported(self) -> list[tuple[Pair, EvaluationRecord]]:
        """The latest scheduled evaluation of every pair, in pair order: what the gauges export."""
        with self._lock:
            return sorted(self._exported.items(), key=lambda item: item[0])

    def _export(self, evaluations: list[EvaluationRecord]) -> None:
        with self._lock:
            self._exported.update({(e.service, e.baseline, e.target): e for e in evaluations})

    def _save(self, service: str, evaluations: list[EvaluationRecord]) -> None:
        try:
            self.store.save_evaluations(evaluations)
        except Exception:  # the evaluations stay in memory (and on /metrics); the next cycle stores its own
            log.exception("storing the evaluations of %s failed", service)

    def evaluate_all(self, leases: Leases | None = None) -> list[EvaluationRecord]:
        """Every configured (or default) pair of every service; one failing pair does not stop the rest.

        The scheduled cycle: the only writer of the stored history and of what the gauges export.
        With ``leases`` (replicas sharing a database), a service is evaluated here only if this
        replica claims it for the cycle; the pairs evaluated elsewhere are then exported as the
        store holds them, so that every replica's gauges show the same evaluations.

        The next ``READERS`` services are read on threads while this one is compared, and each
        service's evaluations are stored on them too (one transaction per service): the store's
        queries wait on the database and NumPy's work on the CPU, each holding the GIL only in between.
        """
        started = time.perf_counter()
        end = datetime.now(UTC)
        start = end - self.window
        cycle = leases.cycle() if leases else 0
        services = [
            (s, [(p.baseline, p.target) for p in self.config.pairs(s, envs)])
            for s, envs in self.store.environment_names().items()
        ]
        services = [(s, pairs) for s, pairs in services if pairs]
        if leases:  # replicas that start a cycle together each begin with other services
            random.Random(leases.replica).shuffle(services)
        results, elsewhere = [], []
        with ThreadPoolExecutor(max_workers=READERS) as reader:

            def read(i: int) -> Future[_ServiceInputs | None]:
                return reader.submit(self._claimed_read, leases, cycle, *services[i], start, end)

            reads = {i: read(i) for i in range(min(READERS, len(services)))}
            for i, (service, pairs) in enumerate(services):
                if i + READERS < len(services):
                    reads[i + READERS] = read(i + READERS)
                try:
                    inputs = reads.pop(i).result()  # popped: its data is let go once evaluated
                except Exception:  # one broken service must not stall every other evaluation
                    log.exception("reading %s failed", service)
                    continue
                if inputs is None:  # another replica's in this cycle
                    elsewhere += [(service, *pair) for pair in pairs]
                    continue
                evaluated = []
                for baseline, target in pairs:
                    try:
                        evaluated.append(self._evaluate(service, baseline, target, inputs))
                    except Exception:
                        log.exception("evaluation of %s %s -> %s failed", service, baseline, target)
                self._export(evaluated)
                reader.submit(self._save_claimed, service, evaluated, leases, cycle)
                results.extend(evaluated)
        self._export([e for pair in elsewhere for e in self.store.evaluations(*pair)])
        self.last_duration_s = time.perf_counter() - started
        self.last_success = time.time()
        return results

    def _claimed_read(
        self,
        leases: Leases | None,
        cycle: int,
        service: str,
        pairs: list[tuple[str, str]],
        start: datetime,
        end: datetime,
    ) -> _ServiceInputs | None:
        """What ``_read`` reads, if this replica claims the service for the cycle (always without leases)."""
        if leases and not leases.claim(service, cycle):
            return None
        return self._read(service, pairs, start, end)

    def _save_claimed(
        self, service: str, evaluations: list[EvaluationRecord], leases: Leases | None, cycle: int
    ) -> None:
        """Store a claimed service's evaluations, then mark its claim finished."""
        self._save(service, evaluations)
        if leases:
            leases.finish(service, cycle)
