"""Database engines: SQLite (WAL, one process) by default, PostgreSQL for replicas.

SQLite serialises writers; each write transaction starts with BEGIN IMMEDIATE so that a
read-decide-write sequence (claim timers, read answers, write the decision) holds the
write lock throughout, as PostgreSQL's row locks do. Reads use a second engine whose
transactions stay deferred, so the status API is never queued behind the scheduler.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dispatcher.store.schema import metadata
from dispatcher.store.sqlite_driver import defer_begin, one_trip_dbapi


class JSONText(str):
    """A value for a JSON column that is already JSON text: stored as it is, not encoded
    again (a large document written piece by piece, never held as Python objects)."""


def _json_serializer(value: Any) -> str:
    return value if isinstance(value, JSONText) else json.dumps(value)


WRITE_PROBE_TIMEOUT = 1.0
"""Seconds `ping` waits for SQLite's write lock before calling the store unavailable."""


@dataclass(frozen=True)
class Database:
    """`writer` for transactions that change state, `reader` for queries."""

    writer: AsyncEngine
    reader: AsyncEngine
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.writer.dialect.name == "sqlite"

    async def create_schema(self) -> None:
        async with self.writer.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query, or (SQLite) if its write
        lock cannot be had within `WRITE_PROBE_TIMEOUT`: WAL lets reads through a lock
        held elsewhere (a shell left in a transaction), yet a store that cannot be written
        cannot take a warning."""
        async with self.reader.connect() as connection:
            await connection.execute(text("SELECT 1"))
        path = make_url(self.url).database
        if self.is_sqlite and path and path != ":memory:":
            await asyncio.to_thread(_take_write_lock, path, WRITE_PROBE_TIMEOUT)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def open_database(url: str) -> Database:
    """Engines for `url`; creates the directory of a SQLite file if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            hide_parameters=True,
            json_serializer=_json_serializer,
        )
        return Database(writer=engine, reader=engine, url=url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: an error's text must not carry a warning body or a phone number.
    # One writer connection per process: its write transactions queue for it in asyncio,
    # first come first served, instead of meeting at SQLite's lock, where the busy handler
    # sleeps in steps of up to 100 ms between tries: under load those sleeps, not the work,
    # would be most of a warning's wait (and the pool's 30 s timeout is the busy timeout's).
    # aiosqlite, with one trip to its thread per statement instead of four, and none for
    # a small statement inside a write transaction (sqlite_driver).
    on_aiosqlite = parsed.get_driver_name() == "aiosqlite"
    writes: dict[str, Any] = {"module": one_trip_dbapi(in_loop=True)} if on_aiosqlite else {}
    reads: dict[str, Any] = {"module": one_trip_dbapi()} if on_aiosqlite else {}
    # No rollback when a connection goes back to the pool: the driver runs in autocommit
    # (we issue BEGIN, below) and SQLAlchemy's Connection ends its own transaction when it
    # closes, so that rollback never had anything to undo, and cost a trip to SQLite's
    # thread after every transaction, a committed one included.
    writer = create_async_engine(
        url,
        connect_args={"timeout": 30},
        hide_parameters=True,
        pool_size=1,
        max_overflow=0,
        pool_reset_on_return=None,
        json_serializer=_json_serializer,
        **writes,
    )
    reader = create_async_engine(
        url,
        connect_args={"timeout": 30},
        hide_parameters=True,
        pool_reset_on_return=None,
        json_serializer=_json_serializer,
        **reads,
    )
    _configure_sqlite(writer, begin="BEGIN IMMEDIATE")
    _configure_sqlite(reader, begin="BEGIN")
    return Database(writer=writer, reader=reader, url=url)


def _configure_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: the driver's implicit BEGIN is always DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not just a process crash (guarantee 1).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # With our driver, BEGIN travels with the transaction's first statement: one trip
        # to SQLite's thread less per transaction.
        if not defer_begin(connection.connection.dbapi_connection, begin):
            connection.exec_driver_sql(begin)


def _take_write_lock(path: str, timeout: float) -> None:
    """Take and release SQLite's write lock on `path` on a connection of its own (never a
    pooled one: a probe must not queue behind, or hold up, the service's transactions).
    Raises sqlite3.OperationalError when another connection holds it for `timeout` s."""
    uri = Path(path).absolute().as_uri() + "?mode=rw"  # never creates a missing file
    connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()
