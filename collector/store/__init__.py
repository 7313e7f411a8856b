"""Storage of snapshots: SQLAlchemy over DuckDB (default) or PostgreSQL."""

from envparity.collector.store.store import (
    IngestResult,
    SequenceConflict,
    Store,
    StoreError,
    UnknownFingerprint,
    database_url,
)

__all__ = [
    "IngestResult",
    "SequenceConflict",
    "Store",
    "StoreError",
    "UnknownFingerprint",
    "database_url",
]
