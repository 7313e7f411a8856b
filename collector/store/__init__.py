"""Storage of snapshots, all of the collector's SQL: SQLAlchemy over DuckDB (default) or PostgreSQL.

``Store`` ingests snapshots and answers the API's queries; the readers hand the
parity engine plain data: ``load_environments`` and ``load_shadow`` out of the
store, ``read_file`` out of a dataset file (DuckDB over CSV and JSON lines,
pyarrow over Parquet). The public names are imported from their modules on first
use, so that reading a file (``envparity compare``) does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envparity.collector._lazy import lazy_attributes

if TYPE_CHECKING:
    from envparity.collector.store.environment_reader import load_environments, load_shadow, shares_requests
    from envparity.collector.store.file_reader import read_file
    from envparity.collector.store.ingest import IngestResult, SequenceConflict, StoreError, UnknownFingerprint
    from envparity.collector.store.store import Store, database_url

_MODULES = {
    "environment_reader": ("load_environments", "load_shadow", "shares_requests"),
    "file_reader": ("read_file",),
    "ingest": ("IngestResult", "SequenceConflict", "StoreError", "UnknownFingerprint"),
    "store": ("Store", "database_url"),
}

__all__ = [
    "IngestResult",
    "SequenceConflict",
    "Store",
    "StoreError",
    "UnknownFingerprint",
    "database_url",
    "load_environments",
    "load_shadow",
    "read_file",
    "shares_requests",
]

__getattr__ = lazy_attributes(__name__, _MODULES)
