"""Running the collector: settings from flags and environment, binding and TLS rules, uvicorn.

With ``tls_cert`` and ``tls_key`` uvicorn serves HTTPS only (plain HTTP to the
port fails the handshake). The pair is loaded before the server starts, so a
missing file or a key that does not match the certificate is one line of bad
input. Listening beyond loopback without TLS is allowed (TLS may end in front of
the collector) but logged as a warning, since tokens would cross the network in
clear text. The certificate is read once: restart the collector after renewing it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn

from envparity.collector import heap
from envparity.collector.api import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_INFLIGHT, create_app
from envparity.collector.api.group_commit import DEFAULT_MAX_GROUP
from envparity.collector.auth import Authorizer
from envparity.collector.exporter.gpu import DEFAULT_STALE_AFTER
from envparity.collector.parity.model import ParityConfig
from envparity.collector.scheduler import start_scheduler
from envparity.collector.service import ParityService
from envparity.collector.store import Store, database_url
from envparity.collector.store.resources import DEFAULT_MAX_SAMPLES

log = logging.getLogger("envparity.collector")


@dataclass(frozen=True)
class CollectorSettings:
    db_path: Path | None = None
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8400
    tokens_file: Path | None = None
    insecure: bool = False
    tls_cert: Path | None = None  # PEM certificate (chain) and its key: serve HTTPS
    tls_key: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_inflight_ingests: int = DEFAULT_MAX_INFLIGHT
    ingest_group: int = DEFAULT_MAX_GROUP  # snapshots written in one transaction at most; 1 turns group commit off
    stale_after: timedelta = DEFAULT_STALE_AFTER  # an agent's or GPU's series leave /metrics this long after its last
    duckdb_memory_limit: str | None = None  # None: 1 GiB or a quarter of the memory
    protect_metrics: bool = False
    retention_days: float = 30.0
    thresholds_file: Path | None = None
    evaluate_every_s: float = 60.0
    window: timedelta = timedelta(hours=1)
    max_samples: int = DEFAULT_MAX_SAMPLES  # per environment and evaluation; more are thinned

    @property
    def url(self) -> str:
        return database_url(self.db_path, self.database_url)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


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
    if settings.tls_cert is None and not _is_loopback(settings.host):
        log.warning(
            "listening on %s without TLS: tokens and snapshots cross the network in clear text unless TLS ends "
            "in front of the collector (--tls-cert and --tls-key serve HTTPS)",
            settings.host,
        )


def check_tls(settings: CollectorSettings) -> None:
    """Both of ``tls_cert`` and ``tls_key`` or neither, and a pair that loads (ValueError otherwise)."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ValueError("give --tls-cert and --tls-key together (or ENVPARITY_TLS_CERT and ENVPARITY_TLS_KEY)")
    if settings.tls_cert is None:
        return
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}: {exc}") from None


def serve(settings: CollectorSettings) -> None:
    """Run the collector until interrupted."""
    check_tls(settings)
    authorizer = Authorizer.from_file(settings.tokens_file, settings.protect_metrics)
    check_binding(settings)
    config = ParityConfig.load(settings.thresholds_file)
    heap.tune()
    store = Store(settings.url, settings.duckdb_memory_limit)
    parity = ParityService(store, config, settings.window, settings.max_samples)
    scheduler = start_scheduler(store, settings.retention_days, parity, settings.evaluate_every_s)
    app = create_app(
        store,
        authorizer,
        settings.max_body_bytes,
        parity=parity,
        max_inflight_ingests=settings.max_inflight_ingests,
        max_group=settings.ingest_group,
        stale_after=settings.stale_after,
    )
    log.info(
        "collector on %s://%s:%d, store %s (pid %d)",
        settings.scheme,
        settings.host,
        settings.port,
        store.engine.url.render_as_string(hide_password=True),
        os.getpid(),
    )
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
        )
    finally:
        scheduler.shutdown(wait=False)
        store.close()
