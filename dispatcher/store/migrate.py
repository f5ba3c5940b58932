"""Schema migrations (Alembic), for SQLite and PostgreSQL alike.

`jiaoying db upgrade` applies them; `serve` checks the database is at the revision this
code knows and refuses to run otherwise — a replica of an older release must not write
into a newer schema, nor a newer one into an older.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from dispatcher.store.db import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaMismatch(Exception):
    """The database is not at the schema revision this code was written for."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:
        raise RuntimeError("no migrations found")
    return revision


async def current(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.writer.connect() as conn:
        return await conn.run_sync(read)


async def upgrade(db: Database, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    async with db.writer.begin() as conn:
        await conn.run_sync(run)


async def check(db: Database) -> None:
    """Raise SchemaMismatch unless the database is at this code's head revision."""
    at, wanted = await current(db), head()
    if at != wanted:
        state = "has no jiaoying schema" if at is None else f"is at schema revision {at}"
        raise SchemaMismatch(
            f"the database {state}; this jiaoying needs {wanted}: run `jiaoying db upgrade`"
        )
