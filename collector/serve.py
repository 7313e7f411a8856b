"""Running the collector: settings from flags and environment, binding rules, uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn

from envparity.collector.api import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INFLIGHT, create_app
from envparity.collector.auth import Authorizer
from envparity.collector.parity.model import ParityConfig
from envparity.collector.scheduler import start_scheduler
from envparity.collector.service import ParityService
from envparity.collector.store import Store, database_url

log = logging.getLogger("envparity.collector")


@dataclass(frozen=True)
class CollectorSettings:
    db_path: Path | None = None
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8400
    tokens_file: Path | None = None
    insecure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_inflight_ingests: int = DEFAULT_MAX_INFLIGHT
    duckdb_memory_limit: str | None = None  # None: 1 GiB or a quarter of the memory
    protect_metrics: bool = False
    retention_days: float = 30.0
    thresholds_file: Path | None = None
    evaluate_every_s: float = 60.0
    window: timedelta = timedelta(hours=1)

    @property
    def url(self) -> str:
        return database_url(self.db_path, self.database_url)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InsecureBinding(ValueError):
    """Binding beyond loopback without tokens was asked for without --insecure."""


def check_binding(settings: CollectorSettings) -> None:
    if settings.tokens_file is None and not _is_loopback(settings.host):
        if not settings.insecure:
            raise InsecureBinding(
                f"refusing to listen on {settings.host} without a tokens file: anyone could write "
                "snapshots. Give --tokens-file, or --insecure if this network is trusted."
            )
        log.warning("listening on %s WITHOUT authentication (--insecure)", settings.host)
    elif settings.tokens_file is None:
        log.warning("no tokens file: accepting unauthenticated requests on loopback %s only", settings.host)


def serve(settings: CollectorSettings) -> None:
    """Run the collector until interrupted."""
    authorizer = Authorizer.from_file(settings.tokens_file, settings.protect_metrics)
    check_binding(settings)
    config = ParityConfig.load(settings.thresholds_file)
    store = Store(settings.url, settings.duckdb_memory_limit)
    parity = ParityService(store, config, settings.window)
    scheduler = start_scheduler(store, settings.retention_days, parity, settings.evaluate_every_s)
    app = create_app(
        store, authorizer, settings.max_body_bytes, parity=parity, max_inflight_ingests=settings.max_inflight_ingests
    )
    log.info(
        "collector on http://%s:%d, store %s (pid %d)",
        settings.host,
        settings.port,
        store.engine.url.render_as_string(hide_password=True),
        os.getpid(),
    )
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    finally:
        scheduler.shutdown(wait=False)
        store.close()
