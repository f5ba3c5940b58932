"""SQLAlchemy's aiosqlite driver, with one trip to the SQLite thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own; every call the event loop
makes on it is a trip there and back (a queue put, a thread wake-up, a callback into the
loop), about 40 µs of CPU on this machine, far more than most statements take. SQLAlchemy's
adapter makes three or four trips per statement: open a cursor, execute, fetch the rows,
close the cursor. A transaction of a dozen statements, such as recording a batch of SMS
answers, spent most of its time travelling.

`one_trip_dbapi()` is the same adapter, whose cursor does the four steps in one function
run on aiosqlite's thread: the statement, its rows, description, row count and last row
id come back together. Everything else (connections, transactions, errors, server-side
cursors) is SQLAlchemy's and aiosqlite's own. Pass it to `create_async_engine` as `module`.

It uses `aiosqlite.Connection._execute` and `_conn`, as SQLAlchemy's own adapter does for
its isolation level: the store's tests run every statement through it.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

__all__ = ["defer_begin", "one_trip_dbapi"]

# What a statement leaves behind: description, rows, row count, last row id.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(
    connection: sqlite3.Connection,
    operation: str,
    parameters: Any,
    many: bool,
    begin: str | None,
) -> _Outcome:
    """On aiosqlite's thread: the transaction's BEGIN if it is still to be issued, then the
    whole statement, its rows fetched, its cursor closed."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor that never holds an aiosqlite cursor: each statement is one
    trip, and what the statement left is kept here."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # Not the base __init__: it opens an aiosqlite cursor, one trip for nothing.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = deque()
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None  # nothing is open between trips

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        return self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapt_connection: _OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        begin = adapt_connection.take_begin()
        try:
            outcome = await_(self._in_thread(operation, parameters, many, begin))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows)

    async def _in_thread(
        self, operation: str, parameters: Any, many: bool, begin: str | None
    ) -> _Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own way to run a function on its thread (untyped, hence the ignore).
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, operation, parameters, many, begin
            )
            return outcome


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """The adapter's connection, whose transactions' BEGIN travels with their first
    statement (`defer_begin`): a transaction that runs nothing takes no trip at all."""

    __slots__ = ("_begin",)
    _cursor_cls: type[AsyncAdapt_aiosqlite_cursor] = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None

    def defer_begin(self, statement: str) -> None:
        """Open the transaction with `statement` (BEGIN …) in the trip of its first
        statement. Nothing runs between BEGIN and that statement either way, so the
        transaction, and the lock BEGIN IMMEDIATE takes, are the same."""
        self._begin = statement

    def take_begin(self) -> str | None:
        """The BEGIN still to issue, if any; the caller issues it."""
        begin, self._begin = self._begin, None
        return begin

    def commit(self) -> None:
        if self.take_begin() is None:  # else the transaction never began: nothing to end
            super().commit()

    def rollback(self) -> None:
        if self.take_begin() is None:
            super().rollback()


def defer_begin(dbapi_connection: Any, statement: str) -> bool:
    """Have `dbapi_connection` issue `statement` with its next statement, if it is one of
    this module's; False (nothing done) for any other driver's connection."""
    if not isinstance(dbapi_connection, _OneTripConnection):
        return False
    dbapi_connection.defer_begin(statement)
    return True


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The aiosqlite DBAPI adapter whose cursors take one trip per statement."""
    return _OneTripDbapi(aiosqlite, sqlite3)
