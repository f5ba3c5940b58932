"""Database engines: SQLite (WAL, one process) by default, PostgreSQL for replicas.

SQLite serialises writers; each write transaction starts with BEGIN IMMEDIATE so that a
read-decide-write sequence (claim timers, read answers, write the decision) holds the
write lock throughout, as PostgreSQL's row locks do. Reads use a second engine whose
transactions stay deferred, so the status API is never queued behind the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dispatcher.store.schema import metadata


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
        """Raise if the database cannot answer a trivial query."""
        async with self.reader.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def open_database(url: str) -> Database:
    """Engines for `url`; creates the directory of a SQLite file if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
        )
        return Database(writer=engine, reader=engine, url=url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: an error's text must not carry a warning body or a phone number.
    writer = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    reader = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
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
        connection.exec_driver_sql(begin)
