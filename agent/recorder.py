"""The in-process request recorder: exact counters and a bounded uniform sample per window.

Every request updates the counters (requests, errors by class) and the latency
histogram (bounds ``LATENCY_BUCKETS_S`` from the wire format, so windows merge
bucket by bucket). A reservoir of at most ``sample_size`` full records per window
is kept with Li's Algorithm L: each of the n records of a window is in the
sample with probability k/n, and a random number is drawn only when a record
enters the sample, not for every record. Records are kept as tuples; they become
wire models only when the window is sealed, off the serving path.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from envparity.agent.clean import LONG, SHORT, Cleaner, FeatureNames, latency_ok
from envparity.agent.privacy import FeatureMasker
from envparity.agent.wire import LATENCY_BUCKETS_S, Outcome, RequestAggregates, Sample

_BOUNDS = LATENCY_BUCKETS_S
DEFAULT_SAMPLE_SIZE = 2000
DEFAULT_MAX_OUTCOMES = 10_000

# (features, prediction, confidence) of one instance of a request
Instance = tuple[Mapping[str, object] | None, object, float | None]
# (ts, request_id, features, prediction, confidence, latency_s, model_version, error)
Record = tuple[
    float, str | None, Mapping[str, object] | None, object, float | None, float | None, str | None, str | None
]
# a label or outcome, as the wire format carries it
OutcomeValue = bool | int | float | str


class _Reservoir:
    """Algorithm L (Li, 1994): a uniform sample of k items from a stream of unknown length."""

    def __init__(self, k: int, rng: random.Random) -> None:
        self.k, self.seen = k, 0
        self.items: list[Record | Slot] = []
        self._rng = rng
        self._w = math.exp(math.log(rng.random() or 1e-300) / k)
        self._next = k + self._skip()

    def _skip(self) -> int:
        return int(math.log(self._rng.random() or 1e-300) / math.log1p(-self._w)) + 1

    def hand_over_pending(self, successor: _Reservoir) -> None:
        """Move the slots of requests still in flight to the next window's reservoir, where they will be counted.

        A request counts in the window in which it ends; its sampled slot goes with it, so a
        window sealed while requests are in flight loses none of them from the sample.
        """
        pending = [item for item in self.items if isinstance(item, Slot) and item.pending]
        if pending:
            self.items = [item for item in self.items if not (isinstance(item, Slot) and item.pending)]
            self.seen -= len(pending)
            for slot in pending:
                successor.offer(slot)

    def offer(self, item: Record | Slot) -> bool:
        """Count one item; True when it entered the sample."""
        self.seen += 1
        if self.seen <= self.k:
            self.items.append(item)
            return True
        if self.seen == self._next:
            self.items[self._rng.randrange(self.k)] = item
            self._w *= math.exp(math.log(self._rng.random() or 1e-300) / self.k)
            self._next += self._skip()
            return True
        return False


class Slot:
    """A place in the sample reserved when a request starts, filled with its records when it ends.

    Capture code (middleware, proxy) reserves a slot before it knows the request's
    content and copies bodies only when it got one. The records may be given as a
    function that parses them: it then runs when the window is sealed, off the
    serving path, and only for the slots still in the sample. A slot left empty
    (the body was not JSON, nothing could be read) drops out of the sample. A slot
    whose request is still in flight when its window is sealed moves to the next
    window (``_Reservoir.hand_over_pending``), where the request is counted.
    """

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[Record] | Callable[[], list[Record]] | None = None

    @property
    def pending(self) -> bool:
        """True until its request ended (``Recorder.finish``)."""
        return self.records is None

    def resolve(self) -> list[Record]:
        if callable(self.records):
            try:
                return self.records()
            except Exception:  # a body that cannot be read is no sample, never a failed seal
                return []
        return self.records or []


@dataclass
class Window:
    """What one window holds; replaced wholesale when the window is sealed."""

    started: float
    reservoir: _Reservoir
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS) + 1))
    latency_sum: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    outcomes_dropped: int = 0
    cleaner: Cleaner = field(default_factory=Cleaner)  # what recording cleaned (latencies, outcomes)


@dataclass
class SealedWindow:
    start: datetime
    end: datetime
    requests: RequestAggregates
    samples: list[Sample]
    outcomes: list[Outcome]
    outcomes_dropped: int
    cleaned: dict[str, int] = field(default_factory=dict)  # values made wire-safe, by reason (agent/clean.py)
    masked: int = 0  # feature values masked as personal data or secrets


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _sample(record: Record, clean: Cleaner, names: FeatureNames, masker: FeatureMasker | None, now: float) -> Sample:
    """One sampled record as the wire carries it: cleaned, its personal feature values masked."""
    ts, request_id, features, prediction, confidence, latency, version, error = record
    cleaned = clean.features(features or {}, names)
    if masker is not None:
        cleaned = masker.features(cleaned)
    return Sample(
        ts=clean.timestamp(ts, now),
        request_id=clean.optional_text(request_id, LONG),
        features=cleaned,
        prediction=clean.value(prediction, LONG),
        confidence=clean.number(confidence),
        latency_s=clean.latency(latency),
        model_version=clean.optional_text(version, SHORT),
        error=clean.optional_text(error, SHORT),
    )


def _samples(records: list[Record], clean: Cleaner, masker: FeatureMasker | None, now: float) -> list[Sample]:
    """The window's samples in time order; a record whose values cannot be read at all is dropped, counted."""
    names, out = FeatureNames(), []
    for record in records:
        try:
            out.append(_sample(record, clean, names, masker, now))
        except Exception:  # an object whose str() or float() raises: never a failed seal
            clean.count("unreadable")
    return sorted(out, key=lambda sample: sample.ts)


def _count(w: Window, latency_s: float | None, error: str | None) -> float | None:
    """The exact counters of one request; returns its latency as counted (None when it was no latency)."""
    w.requests += 1
    if error is not None:
        w.errors[error] = w.errors.get(error, 0) + 1
    if latency_s is not None and not latency_ok(latency_s):
        latency_s = w.cleaner.latency(latency_s)
    if latency_s is not None:
        w.buckets[bisect_left(_BOUNDS, latency_s)] += 1
        w.latency_sum += latency_s
    return latency_s


def _filled(items: list[Record | Slot]) -> list[Record]:
    """The sample's records: slots become their records (parsed now if deferred), empty ones drop out."""
    out: list[Record] = []
    for item in items:
        if isinstance(item, Slot):
            out += item.resolve()
        else:
            out.append(item)
    return out


class _Shard:
    """One thread's part of the current window, behind a lock only that thread and seal() take."""

    __slots__ = ("lock", "thread", "window")

    def __init__(self, window: Window) -> None:
        self.lock = threading.Lock()
        self.thread = threading.current_thread()
        self.window = window


def _merge_samples(parts: list[tuple[int, list[Record | Slot]]], k: int, rng: random.Random) -> list[Record | Slot]:
    """A uniform k-sample of the union of several streams from their own uniform reservoirs.

    How many items come from each stream follows the multivariate hypergeometric
    law (drawn one item at a time); a uniform subset of a uniform reservoir is a
    uniform sample of its stream, so every record ends up in with probability k/N.
    """
    remaining = [seen for seen, _ in parts]
    total = sum(remaining)
    take = [0] * len(parts)
    for _ in range(min(k, total)):
        pick = rng.randrange(total)
        for i, left in enumerate(remaining):
            if pick < left:
                take[i] += 1
                remaining[i] -= 1
                break
            pick -= left
        total -= 1
    merged: list[Record | Slot] = []
    for (_, items), count in zip(parts, take, strict=True):
        merged += rng.sample(items, count) if count < len(items) else items
    return merged


class Recorder:
    """Thread-safe recorder of requests and outcomes, sealed into windows.

    Each recording thread writes to a shard of its own, so threads never wait on
    each other; ``seal()`` takes every shard's lock in turn, swaps in a fresh
    window and merges the counts exactly and the samples uniformly.
    """

    def __init__(
        self,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        max_outcomes: int = DEFAULT_MAX_OUTCOMES,
        seed: int | None = None,
        masker: FeatureMasker | None = None,
    ) -> None:
        if sample_size < 1:
            raise ValueError("sample_size must be at least 1")
        self.sample_size, self.max_outcomes = sample_size, max_outcomes
        self.masker = masker  # applied to the sampled features when a window is sealed
        self._rng = random.Random(seed)
        self._shards: list[_Shard] = []
        self._shards_lock = threading.Lock()
        self._local = threading.local()
        self._started = time.time()

    def _new_window(self) -> Window:
        with self._shards_lock:  # the shared generator is not safe to use from two threads
            seed = self._rng.getrandbits(64)
        return Window(self._started, _Reservoir(self.sample_size, random.Random(seed)))

    def _shard(self) -> _Shard:
        shard = getattr(self._local, "shard", None)
        if shard is None:
            shard = self._local.shard = _Shard(self._new_window())
            with self._shards_lock:
                self._shards.append(shard)
        return shard

    def record(
        self,
        *,
        request_id: str | None = None,
        features: Mapping[str, object] | None = None,
        prediction: object = None,
        confidence: float | None = None,
        latency_s: float | None = None,
        model_version: str | None = None,
        error: str | None = None,
        ts: float | None = None,
    ) -> None:
        """Count one request and offer it to the window's sample. Never raises on odd values.

        ``ts`` (Unix seconds) is when the request happened, if not now (a log read later).
        """
        when = time.time() if ts is None else ts
        shard = self._shard()
        with shard.lock:
            latency = _count(shard.window, latency_s, error)
            record = (when, request_id, features, prediction, confidence, latency, model_version, error)
            shard.window.reservoir.offer(record)

    def reserve(self) -> Slot | None:
        """Offer the request about to be served to the sample: a slot to fill when it ends, or None."""
        slot = Slot()
        shard = self._shard()
        with shard.lock:
            return slot if shard.window.reservoir.offer(slot) else None

    def finish(
        self,
        slot: Slot | None,
        *,
        request_id: str | None = None,
        instances: Sequence[Instance] | Callable[[], Sequence[Instance]] = (),
        latency_s: float | None = None,
        model_version: str | None = None,
        error: str | None = None,
    ) -> None:
        """Count a request offered by ``reserve()``; a sampled one fills its slot with one record per instance.

        ``instances`` is a list of (features, prediction, confidence), or a function
        returning one, called at seal time (see ``Slot``). A sampled batch brings all
        its instances: the sample is uniform over requests.
        """
        now = time.time()

        def records() -> list[Record]:
            found = instances() if callable(instances) else instances
            return [(now, request_id, f, p, c, counted, model_version, error) for f, p, c in found]

        shard = self._shard()
        with shard.lock:  # filled and counted in one window: a seal hands over only the slots still pending
            counted = _count(shard.window, latency_s, error)
            if slot is not None:
                slot.records = records if callable(instances) else records()

    def record_outcome(self, request_id: str, outcome: OutcomeValue) -> None:
        """A label or outcome for an earlier request, cleaned; bounded per window, drops (and nulls) counted."""
        shard = self._shard()
        with shard.lock:
            window = shard.window
            value = None if outcome is None else window.cleaner.value(outcome, LONG)
            if value is not None and len(window.outcomes) < self.max_outcomes:
                key = window.cleaner.text(str(request_id), LONG)
                window.outcomes.append(Outcome(request_id=key, outcome=value, ts=datetime.now(UTC)))
            else:
                window.outcomes_dropped += 1

    def seal(self) -> SealedWindow:
        """Close the current window and start the next; the merge runs outside the shard locks."""
        with self._shards_lock:
            shards = list(self._shards)
            started, self._started = self._started, time.time()
            # a finished thread's shard is not needed after this window
            self._shards = [s for s in self._shards if s.thread.is_alive()]
        windows = []
        for shard in shards:
            fresh = self._new_window()
            with shard.lock:
                shard.window.reservoir.hand_over_pending(fresh.reservoir)
                windows.append(shard.window)
                shard.window = fresh
        ended = self._started
        buckets = [sum(col) for col in zip(*(w.buckets for w in windows), strict=True)] if windows else None
        errors: dict[str, int] = {}
        for w in windows:
            for name, count in w.errors.items():
                errors[name] = errors.get(name, 0) + count
        clean = Cleaner()
        aggregates = RequestAggregates(
            requests=sum(w.requests for w in windows),
            errors=clean.errors(errors),
            latency_sum_s=sum(w.latency_sum for w in windows),
            **({"latency_bucket_counts": buckets} if buckets else {}),
        )
        parts = [(w.reservoir.seen, w.reservoir.items) for w in windows]
        records = _filled(_merge_samples(parts, self.sample_size, self._rng))  # deferred parsing happens here
        outcomes = [o for w in windows for o in w.outcomes][: self.max_outcomes]
        dropped = sum(w.outcomes_dropped for w in windows) + sum(len(w.outcomes) for w in windows) - len(outcomes)
        masked_before = self.masker.masked if self.masker is not None else 0
        samples = _samples(records, clean, self.masker, ended)
        for w in windows:
            for reason, count in w.cleaner.counts.items():
                clean.count(reason, count)
        return SealedWindow(
            start=_utc(started),
            end=_utc(ended),
            requests=aggregates,
            samples=samples,
            outcomes=outcomes,
            outcomes_dropped=dropped,
            cleaned=clean.counts,
            masked=(self.masker.masked - masked_before) if self.masker is not None else 0,
        )
