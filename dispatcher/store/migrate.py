"""Schema migrations (Alembic), for SQLite and PostgreSQL alike.

The embedded default needs no set-up step: `jiaoying serve` on a SQLite file creates the
schema, or upgrades an older one after copying the file beside itself (`bring_to_head`).
On PostgreSQL, where several replicas share the database, `jiaoying db upgrade` applies
the migrations once before them, and `serve` refuses a schema it does not know (`check`).
Nothing ever downgrades: a database written by a newer release is refused everywhere.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url

import dispatcher
from dispatcher.store.db import Database, open_database

MIGRATIONS = Path(dispatcher.__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


class SchemaMismatch(Exception):
    """The database is not at the schema revision this code was written for."""


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What `bring_to_head` did: from `before` (None: no schema yet) to `after`, and where
    the copy of the database as it was before an upgrade is (SQLite only)."""

    before: str | None
    after: str
    backup: Path | None = None


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


def _known(revision: str) -> bool:
    """Whether this code has migration `revision` (a newer release's is unknown here)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


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
        raise SchemaMismatch(_mismatch(at, wanted))


def _mismatch(at: str | None, wanted: str) -> str:
    if at is not None and not _known(at):
        return (
            f"the database is at schema revision {at}, newer than this jiaoying ({wanted}): "
            "a schema is never downgraded; run the jiaoying release that wrote it"
        )
    state = "has no jiaoying schema" if at is None else f"is at schema revision {at}"
    return f"the database {state}; this jiaoying needs {wanted}: run `jiaoying db upgrade`"


async def bring_to_head(db: Database, now: datetime) -> SchemaChange | None:
    """Create the schema, or upgrade an older one to this code's head; None when it is
    there already.

    On SQLite an older database is first copied beside its file, as one consistent
    snapshot (`VACUUM INTO`, which reads through WAL), named with its revision and `now`:
    `jiaoying.db.rev0002-20260720T013000Z.bak`. Raises SchemaMismatch for a revision
    newer than this code (never downgraded), and for a SQLite file that holds tables but
    no jiaoying revision (not jiaoying's to change).
    """
    at, wanted = await current(db), head()
    if at == wanted:
        return None
    if at is not None and not _known(at):
        raise SchemaMismatch(_mismatch(at, wanted))
    path = sqlite_path(db)
    if at is None and path is not None and await _tables(db):
        raise SchemaMismatch(
            "the database holds tables but no jiaoying schema revision: it is not a "
            "jiaoying database, and jiaoying leaves it as it is (set JIAOYING_DB_URL)"
        )
    backup = None
    if at is not None and path is not None:
        backup = path.with_name(f"{path.name}.rev{at}-{now:%Y%m%dT%H%M%SZ}.bak")
        await asyncio.to_thread(_snapshot, path, backup)
    await upgrade(db)
    return SchemaChange(at, wanted, backup)


async def prepare_to_serve(url: str, now: datetime) -> SchemaChange | None:
    """What `serve` does before it starts: on SQLite, `bring_to_head` (the embedded
    default needs no set-up step); on PostgreSQL, where replicas share the database, only
    `check`: `jiaoying db upgrade` migrates it once, before them."""
    db = open_database(url)
    try:
        path = sqlite_path(db)
        if path is not None:
            _must_be_writable(path)
            return await bring_to_head(db, now)
        await check(db)
        return None
    finally:
        await db.dispose()


def sqlite_path(db: Database) -> Path | None:
    """The file of a SQLite database (None for PostgreSQL or an in-memory database)."""
    path = make_url(db.url).database
    if not db.is_sqlite or not path or path == ":memory:":
        return None
    return Path(path)


def _must_be_writable(path: Path) -> None:
    """Raise PermissionError when this user cannot write the SQLite file (or create it):
    found before SQLite is asked, whose own failure leaves a worker thread behind."""
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "not writable by this user", str(target))


async def _tables(db: Database) -> list[str]:
    def read(connection: Connection) -> list[str]:
        return [name for name in inspect(connection).get_table_names() if name != VERSION_TABLE]

    async with db.writer.connect() as conn:
        return await conn.run_sync(read)


def _snapshot(source: Path, target: Path) -> None:
    """Copy the SQLite database `source` to `target` (which must not exist) as one
    consistent snapshot, synced to disk. A file copy of a live WAL database could miss
    the commits still in its -wal file, or catch one half-written."""
    uri = source.absolute().as_uri() + "?mode=rw"  # never creates a missing file
    connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        connection.execute("VACUUM INTO ?", (str(target),))
    finally:
        connection.close()
    descriptor = os.open(target, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
