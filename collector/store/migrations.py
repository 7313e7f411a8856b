"""Schema creation and migration, run when the collector starts.

The schema version is kept in ``envparity_meta``. A new database gets every
table at the current version; an older one gets each migration step in turn;
a database written by a newer envparity is refused rather than touched.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from envparity.collector.store import schema

# MIGRATIONS[n] upgrades a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}


class SchemaTooNew(RuntimeError):
    """The database was written by a newer envparity than this one."""


def current_version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table(schema.meta.name):
        return None
    value = conn.execute(
        sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).scalar_one_or_none()
    return int(value) if value is not None else None


def migrate(engine: sa.Engine) -> int:
    """Bring the database to ``SCHEMA_VERSION``; returns the version found before."""
    with engine.begin() as conn:
        found = current_version(conn)
        if found is None:
            schema.metadata.create_all(conn)
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
            return 0
        if found > schema.SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database schema version {found} is newer than this envparity understands "
                f"({schema.SCHEMA_VERSION}); upgrade envparity"
            )
        for version in range(found, schema.SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        conn.execute(
            schema.meta.update().where(schema.meta.c.key == "schema_version").values(value=str(schema.SCHEMA_VERSION))
        )
        return found
