"""The collector's HTTP API (FastAPI): one router per concern over the parity service and the store."""

from __future__ import annotations

from envparity.collector.api.admission import DEFAULT_MAX_INFLIGHT
from envparity.collector.api.app import create_app
from envparity.collector.api.body import DEFAULT_MAX_BODY_BYTES

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_INFLIGHT", "create_app"]
