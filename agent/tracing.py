"""OpenTelemetry spans for push attempts, only when an OTLP endpoint is configured.

Without ``ENVPARITY_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) no tracer is
created and pushes run with no tracing code at all. The exporter needs the
``otel`` extra (``opentelemetry-sdk`` and ``opentelemetry-exporter-otlp-proto-http``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("envparity.agent.tracing")


class PushTracer:
    """Wraps push attempts in spans when tracing is on; a no-op otherwise."""

    def __init__(self, endpoint: str | None = None, service: str = "envparity-agent") -> None:
        endpoint = (
            endpoint or os.environ.get("ENVPARITY_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        self._tracer: Any = None
        self._provider: Any = None
        if not endpoint:
            return
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning(
                "OTLP endpoint %s configured but the 'otel' extra is not installed; no spans will be sent",
                endpoint,
            )
            return
        self._provider = TracerProvider(resource=Resource.create({"service.name": service}))
        url = endpoint.rstrip("/") + ("" if endpoint.endswith("/v1/traces") else "/v1/traces")
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        self._tracer = self._provider.get_tracer("envparity.agent")

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self, timeout_s: float) -> None:
        """Export the spans still queued and stop, waiting ``timeout_s`` at most (a warning when that was short)."""
        if self._provider is None:
            return
        # The SDK's shutdown may wait 30 s on an endpoint that does not answer; a thread of its own bounds it.
        stopping = threading.Thread(target=self._provider.shutdown, name="envparity-otel-shutdown", daemon=True)
        stopping.start()
        stopping.join(timeout_s)
        if stopping.is_alive():
            log.warning("spans of the last pushes were not exported within %.3gs", timeout_s)
