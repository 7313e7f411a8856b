"""The continuous agent: records requests in the serving process and pushes a snapshot per window.

    agent = Agent(service="fraud", environment="staging", collector="http://collector:8400")
    # or Agent(AgentSettings(...)), or Agent.from_env() for ENVPARITY_* variables
    agent.record(request_id="r-1", features={...}, prediction=0.93, latency_s=0.012)
    agent.record_outcome(request_id="r-1", outcome=1)
    agent.close(timeout=10)            # flushes the last window (atexit does too); True when all was delivered

Three jobs run in the background (``envparity.agent.jobs``): sealing a window
into a spooled snapshot (every ``window_s``), delivering the spool (every few
seconds, independent of sealing, so a slow collector never stretches a window),
and re-taking the fingerprint (every ``fingerprint_every_s``; sent in full only
when its hash changes); with ``probes``, a fourth asks the golden inputs (every
``probes.every_s``), and the next window carries their answers
(``envparity.agent.probes``). ``Agent`` is the ``WindowedSink`` the capture paths
record into (``envparity.agent.sink``).

A window always seals: the sampled values are cleaned into what the wire takes
(``envparity.agent.clean``) and personal feature values masked
(``envparity.agent.privacy``), both counted in the agent's metrics; each
snapshot's header carries the snapshots lost so far, as the spool counts them.

Forking servers (gunicorn, uvicorn ``--workers``): every worker is an agent of
its own. After a fork the child gets a fresh recorder, a new agent id
(``<parent id>-w<pid>``), its own spool under ``<spool>/workers/<pid>`` and its
own scheduler; the collector adds up the workers' windows per environment.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from envparity.agent.environ import env_int, env_number, env_str
from envparity.agent.fingerprint import take_fingerprint
from envparity.agent.gpu import GpuSampler
from envparity.agent.jobs import Jobs
from envparity.agent.metrics import DEFAULT_METRICS_HOST, AgentMetrics
from envparity.agent.privacy import FeatureMasker
from envparity.agent.probes.prober import ProbeConfig, Prober
from envparity.agent.push import DeliveryReport, Pusher, SendResult
from envparity.agent.recorder import DEFAULT_SAMPLE_SIZE, Instance, OutcomeValue, Recorder, SealedWindow, Slot
from envparity.agent.settings import AgentSettings, SettingsFields
from envparity.agent.snapshot import build_snapshot
from envparity.agent.spool import Spool
from envparity.agent.tracing import PushTracer
from envparity.agent.wire import Fingerprint, GpuSection, ProbeSection, SampleColumns

log = logging.getLogger("envparity.agent")

DELIVERY_EVERY_S = 5.0
CLOSE_TIMEOUT_S = 30.0


class Agent:
    """Records requests and outcomes; seals, spools and delivers a snapshot per window.

    Configured by an ``AgentSettings`` or by its fields as keywords (``service=``,
    ``environment=``, ``collector=``, ...), not both.
    """

    def __init__(
        self,
        settings: AgentSettings | None = None,
        *,
        window_s: float = 60.0,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        fingerprint_every_s: float = 300.0,
        metrics_port: int | None = None,
        metrics_host: str = DEFAULT_METRICS_HOST,
        otlp_endpoint: str | None = None,
        gpu_interval_s: float | None = 5.0,
        probes: ProbeConfig | None = None,
        start: bool = True,
        **fields: Unpack[SettingsFields],
    ) -> None:
        if window_s <= 0 or fingerprint_every_s <= 0:
            raise ValueError("window_s and fingerprint_every_s must be positive")
        self.settings = settings = _settings(settings, fields)
        self.window_s, self.fingerprint_every_s = window_s, fingerprint_every_s
        self.sample_size = sample_size
        self.metrics = AgentMetrics(losses=lambda: self.spool.losses())
        self._masker = FeatureMasker.from_lists(settings.mask_features, settings.mask_names, settings.keep_names)
        self._tracer = PushTracer(otlp_endpoint)
        self.gpu_interval_s = gpu_interval_s
        self._gpu = GpuSampler() if gpu_interval_s else None
        failed = self.metrics.probe_failures
        self._prober = Prober(probes, lambda reason: failed.labels(reason=reason).inc()) if probes else None
        self._seal_lock = threading.Lock()
        self._sealed_hooks: list[Callable[[], None]] = []
        self._closed = False
        self._open(settings.agent_id)
        if metrics_port is not None:
            self.metrics.serve(metrics_port, metrics_host)
        _register_fork_handler(self)
        atexit.register(_close_at_exit, weakref.ref(self))
        if start:
            self.start()

    @classmethod
    def from_env(cls, **overrides: Any) -> Agent:
        """An agent configured by ENVPARITY_* variables (see ``envparity.agent.settings``)."""
        names = {
            "window_s",
            "sample_size",
            "fingerprint_every_s",
            "metrics_port",
            "metrics_host",
            "otlp_endpoint",
            "start",
            "gpu_interval_s",
        }
        options = {k: overrides.pop(k) for k in list(overrides) if k in names}
        options.setdefault("window_s", env_number("ENVPARITY_WINDOW_S", 60.0))
        options.setdefault("sample_size", env_int("ENVPARITY_SAMPLE_SIZE", DEFAULT_SAMPLE_SIZE))
        if os.environ.get("ENVPARITY_METRICS_PORT"):
            options.setdefault("metrics_port", env_int("ENVPARITY_METRICS_PORT", 0))
        options.setdefault("metrics_host", env_str("ENVPARITY_METRICS_HOST", DEFAULT_METRICS_HOST))
        return cls(AgentSettings.from_env(**overrides), **options)

    # --- lifecycle ------------------------------------------------------------

    def _open(self, agent_id: str | None, spool_dir: Path | None = None) -> None:
        self.recorder = Recorder(self.sample_size, masker=self._masker)
        self.spool = Spool(spool_dir or self.settings.spool_path, agent_id, self.settings.spool_max_bytes)
        self.pusher = Pusher(
            self.settings.collector,
            self.settings.token,
            self.settings.push_timeout_s,
            self.settings.push_attempts,
            tracer=self._tracer,
            verify=self.settings.tls_verify(),
            max_attempts=self.settings.max_attempts,
        )
        self.pusher.on_attempt = self._on_attempt
        self._fingerprint: Fingerprint | None = None
        self._jobs: Jobs | None = None
        self._start_pending = False
        self._pid = os.getpid()

    @property
    def tracing_enabled(self) -> bool:
        return self._tracer.enabled

    @property
    def agent_id(self) -> str:
        return self.spool.state.agent_id

    def start(self) -> None:
        """Start the background jobs (sealing, delivery, fingerprint, GPU samples)."""
        if self._jobs is not None:
            return
        self.refresh_fingerprint()
        jobs = Jobs()
        jobs.every(self.window_s, self.seal_window, "seal")
        jobs.every(min(DELIVERY_EVERY_S, self.window_s), self.deliver, "deliver", now=True)
        jobs.every(self.fingerprint_every_s, self.refresh_fingerprint, "fingerprint")
        if self._gpu is not None and self._gpu.enabled and self.gpu_interval_s:
            jobs.every(self.gpu_interval_s, self._gpu.sample, "gpu", now=True)
        if self._prober is not None:
            jobs.every(self._prober.config.every_s, self._prober.run, "probe", now=True)
        jobs.start()
        self._jobs = jobs

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Seal the last window and deliver the spool within ``timeout`` seconds; True when nothing is left in it.

        The background jobs stop (a run in progress is waited for, until the deadline
        at most), the current window is sealed into the spool, and the spool is
        delivered: no attempt, request or backoff outlasts the deadline. What is not
        delivered stays in the spool for the agent's next start. With a timeout of 0
        the last window is sealed and nothing is sent. Never raises: a failure is
        logged and answered with False. Closing again only tells whether the spool is empty.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            if self._closed:
                return self.spool.pending_count() == 0
            self._closed = True
            return self._shut_down(deadline)
        except Exception:  # closing must never break the application
            log.exception("closing the agent failed; what was sealed stays in the spool")
            return False

    def _shut_down(self, deadline: float) -> bool:
        self.pusher.finish_by(deadline)
        idle = self._jobs is None or self._jobs.stop(deadline)
        try:
            self.seal_window()
            if not idle:
                log.warning("a background job still runs at the close deadline; the last window stays spooled")
            return idle and self.deliver().delivered_all
        finally:
            if self._prober is not None:
                self._prober.close()
            self.pusher.close()
            self.spool.close()
            self._tracer.shutdown(max(0.0, deadline - time.monotonic()))

    def _after_fork_in_child(self) -> None:
        parent_id = self.spool.state.agent_id
        parent_spool, fingerprint = self.spool.root, self._fingerprint
        self.spool.release_after_fork()
        self._prober = None  # the parent process probes; a worker only records
        self._open(f"{parent_id}-w{os.getpid()}", parent_spool / "workers" / str(os.getpid()))
        self._fingerprint = fingerprint
        self._seal_lock = threading.Lock()
        # Threads cannot be started safely inside a fork hook (other modules' locks are
        # re-initialised by hooks that run later); the first record() starts them.
        self._start_pending = not self._closed

    # --- recording (the serving path) ---------------------------------------------

    def _start_after_fork(self) -> None:
        if self._start_pending:
            self._start_pending = False
            self.start()

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
        """Record one request that has ended: counted exactly and offered to the sample. Never raises on odd values.

        request_id: the request's id, to join outcomes and shadow copies to it.
        features: feature name -> value; numbers of any type (numpy's too) are sent as floats, other values as text.
        prediction: the model's answer, a number (sent as a float) or a label (sent as text).
        confidence: the model's confidence in it.
        latency_s: how long the request took, in seconds (the latency histogram counts every request).
        model_version: the version of the model that answered.
        error: the request's error class (``http_5xx``, an exception's name, ...); None when it succeeded.
        ts: when the request happened, in Unix seconds, if not now (a log read later).
        """
        self._start_after_fork()
        self.recorder.record(
            request_id=request_id,
            features=features,
            prediction=prediction,
            confidence=confidence,
            latency_s=latency_s,
            model_version=model_version,
            error=error,
            ts=ts,
        )

    def reserve(self) -> Slot | None:
        """A sample slot for a request that starts now (``Recorder.reserve``); None when it is not sampled."""
        self._start_after_fork()
        return self.recorder.reserve()

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
        """Count a request begun with ``reserve()``; a sampled one fills its slot (``Recorder.finish``).

        ``instances`` holds one (features, prediction, confidence) per instance of the
        request, or is a function returning them, called only if the request is still in
        the sample when the window is sealed. The other fields are those of ``record``.
        """
        self.recorder.finish(
            slot,
            request_id=request_id,
            instances=instances,
            latency_s=latency_s,
            model_version=model_version,
            error=error,
        )

    def record_outcome(self, request_id: str, outcome: OutcomeValue) -> None:
        """A label or outcome (a number, boolean or text) that arrived for the earlier request ``request_id``."""
        self.recorder.record_outcome(request_id, outcome)

    @property
    def seal_lock(self) -> threading.Lock:
        """Held while a window is sealed: a reader holding it records nothing into a half-sealed window."""
        return self._seal_lock

    def on_sealed(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (under ``seal_lock``) each time a window is safely in the spool."""
        self._sealed_hooks.append(hook)

    # --- jobs ----------------------------------------------------------------------

    def refresh_fingerprint(self) -> None:
        try:
            fp = take_fingerprint(self.settings.sources)
        except Exception:  # a vanished config file must not stop the agent
            log.exception("fingerprint failed; keeping the previous one")
            return
        if self._fingerprint is None or fp.hash != self._fingerprint.hash:
            self.spool.save_fingerprint(fp.hash, fp.model_dump_json().encode())
            if self._fingerprint is not None:
                log.info("fingerprint changed: %s -> %s", self._fingerprint.hash[:12], fp.hash[:12])
        self._fingerprint = fp

    def seal_window(self) -> int:
        """Seal the current window into a spooled snapshot; returns its sequence."""
        with self._seal_lock:
            window = self.recorder.seal()
            gpu: GpuSection | None = self._gpu.seal() if self._gpu is not None else None
            probes = self._prober.take() if self._prober is not None else None
            sequence = self.spool.put_next(lambda seq: self._snapshot_json(seq, window, gpu, probes))
            for hook in self._sealed_hooks:
                hook()
        self.metrics.windows.inc()
        self.metrics.spooled.inc()
        self.metrics.records.inc(window.requests.requests)
        self.metrics.spool_bytes.set(self.spool.pending_bytes())
        for reason, count in window.cleaned.items():
            self.metrics.cleaned.labels(reason=reason).inc(count)
        self.metrics.masked.inc(window.masked)
        if window.outcomes_dropped:
            log.warning("dropped %d outcomes over the per-window bound", window.outcomes_dropped)
        return sequence

    def _snapshot_json(
        self, sequence: int, window: SealedWindow, gpu: GpuSection | None, probes: ProbeSection | None
    ) -> bytes:
        """The snapshot of a sealed window, with the losses so far, as spooled and sent."""
        snap = build_snapshot(
            agent_id=self.agent_id,
            sequence=sequence,
            service=self.settings.service,
            environment=self.settings.environment,
            window_start=window.start,
            window_end=window.end,
            fingerprint=self._fingerprint,
            acked_fingerprint=self.spool.state.acked_fingerprint,
            requests=window.requests,
            samples=window.samples or None,
            outcomes=window.outcomes or None,
            gpu=gpu,
            snapshots_lost=self.spool.losses(),
            probes=probes,
        )
        if snap.samples and self.pusher.collector_reads_columns:  # parsed several times faster by the collector
            snap.columns, snap.samples = SampleColumns.of(snap.samples), None
        return snap.model_dump_json().encode()

    def deliver(self) -> DeliveryReport:
        """Send what the spool holds, oldest first, as far as the collector takes it (losses: the spool counts them)."""
        report = self.pusher.deliver(self.spool)
        self.metrics.sent.inc(report.sent)
        self.metrics.spool_bytes.set(self.spool.pending_bytes())
        return report

    def _on_attempt(self, result: SendResult, seconds: float) -> None:
        self.metrics.push_seconds.labels(result=result.verdict).observe(seconds)


def _settings(settings: AgentSettings | None, fields: SettingsFields) -> AgentSettings:
    """The settings object given, or one made of the fields given as keywords."""
    if settings is None:
        return AgentSettings(**fields)
    if fields:
        raise TypeError(f"Agent() takes an AgentSettings or its fields as keywords, not both (got {', '.join(fields)})")
    return settings


_AGENTS: weakref.WeakSet[Agent] = weakref.WeakSet()
_FORK_HANDLER: list[bool] = []


def _register_fork_handler(agent: Agent) -> None:
    if not _FORK_HANDLER:
        os.register_at_fork(after_in_child=_reinit_after_fork)
        _FORK_HANDLER.append(True)
    _AGENTS.add(agent)


def _reinit_after_fork() -> None:
    for agent in list(_AGENTS):
        agent._after_fork_in_child()


def _close_at_exit(ref: weakref.ref[Agent]) -> None:
    agent = ref()
    if agent is not None and agent._pid == os.getpid():
        agent.close()
