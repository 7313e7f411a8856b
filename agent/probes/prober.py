"""Asking the golden inputs: one POST each, the outputs of every answer kept until a snapshot takes them.

A probe that fails is a result with its reason instead of outputs, and is counted
(``on_failure``, the agent's ``envparity_agent_probe_failures_total``); nothing a
probe meets stops the agent. The reasons: ``connect`` (the endpoint is down),
``timeout``, ``http_error`` (another transport error), ``http_4xx`` and ``http_5xx``
(an error status), ``not_json`` (an answer that is not JSON), ``missing_output``
(an ``--output`` pointer that finds nothing) and ``no_output`` (an answer without a
number or string). Every value is made wire-safe as a recorded one is
(``envparity.agent.clean``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from jsonpointer import JsonPointer, JsonPointerException

from envparity.agent.clean import LONG, Cleaner, FeatureNames
from envparity.agent.environ import SettingsError, http_url
from envparity.agent.probes.inputs import ProbeInput
from envparity.agent.probes.outputs import MissingOutput, Outputs, extract
from envparity.agent.wire import MAX_PROBE_INPUTS, ProbeResult, ProbeSection, utcnow

log = logging.getLogger("envparity.agent.probes")

DEFAULT_EVERY_S = 300.0
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe: the endpoint, the inputs, the output pointers (none: every output), how often, how long."""

    endpoint: str
    inputs: tuple[ProbeInput, ...]
    outputs: tuple[str, ...] = ()
    every_s: float = DEFAULT_EVERY_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        http_url("probe endpoint", self.endpoint)
        if self.every_s <= 0 or self.timeout_s <= 0:
            raise SettingsError("the probe interval and timeout must be positive")
        for pointer in self.outputs:
            try:
                JsonPointer(pointer)
            except JsonPointerException:
                raise SettingsError(f"output {pointer!r} is not a JSON pointer such as /predictions/0") from None


class Prober:
    """Asks every input of a ``ProbeConfig`` and keeps each result's latest answer until ``take()``."""

    def __init__(self, config: ProbeConfig, on_failure: Callable[[str], None] = lambda reason: None) -> None:
        self.config = config
        self._on_failure = on_failure
        self._client = httpx.Client(timeout=config.timeout_s)
        self._latest: dict[str, ProbeResult] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        """Ask every input once; failures are counted and logged in one line."""
        results = [result for item in self.config.inputs for result in self._ask(item)]
        failed = Counter(r.error for r in results if r.error is not None)
        for reason in failed.elements():
            self._on_failure(reason)
        if failed:
            summary = ", ".join(f"{reason} {count}" for reason, count in sorted(failed.items()))
            log.warning("golden probes of %s: %d failed (%s)", self.config.endpoint, failed.total(), summary)
        with self._lock:
            self._latest.update((r.id, r) for r in results)

    def take(self) -> ProbeSection | None:
        """The latest result of each input since the last take (as many as the wire carries); None when none."""
        with self._lock:
            latest, self._latest = self._latest, {}
        if len(latest) > MAX_PROBE_INPUTS:
            log.warning("golden probes: %d results, the snapshot carries the first %d", len(latest), MAX_PROBE_INPUTS)
        return ProbeSection(results=list(latest.values())[:MAX_PROBE_INPUTS]) if latest else None

    def close(self) -> None:
        self._client.close()

    def _ask(self, item: ProbeInput) -> list[ProbeResult]:
        try:
            response = self._client.post(self.config.endpoint, json=item.body)
        except httpx.TimeoutException:
            return [_failed(item.id, "timeout")]
        except httpx.ConnectError:
            return [_failed(item.id, "connect")]
        except httpx.HTTPError:
            return [_failed(item.id, "http_error")]
        if response.status_code >= 400:
            return [_failed(item.id, f"http_{response.status_code // 100}xx")]
        try:
            answer = response.json()
        except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
            return [_failed(item.id, "not_json")]
        try:
            rows = extract(answer, item.body, self.config.outputs)
        except MissingOutput:
            return [_failed(item.id, "missing_output")]
        results = [_answered(item.id, entity, outputs) for entity, outputs in rows]
        return [r for r in results if r.outputs] or [_failed(item.id, "no_output")]


def _failed(ident: str, reason: str) -> ProbeResult:
    return ProbeResult(id=ident, ts=utcnow(), error=reason)


def _answered(ident: str, entity: str, outputs: Outputs) -> ProbeResult:
    """One result, its id naming the entity (``input[user_id=2]``), its outputs as the wire takes them."""
    clean = Cleaner()
    values = {name: value for name, value in clean.features(outputs, FeatureNames()).items() if value is not None}
    return ProbeResult(id=clean.text(f"{ident}[{entity}]" if entity else ident, LONG), ts=utcnow(), outputs=values)
