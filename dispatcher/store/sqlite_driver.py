"""SQLAlchemy's aiosqlite driver, with at most one trip to the SQLite thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own; every call the event loop
makes on it is a trip there and back (a queue put, a thread wake-up, a callback into the
loop), about 65 µs of CPU on this machine (36 µs of it on the loop's thread), where
SQLite itself takes 3–8 µs for most of the service's statements. SQLAlchemy's adapter
makes three or four trips per statement: open a cursor, execute, fetch the rows, close
the cursor.

`one_trip_dbapi()` is the same adapter, whose cursor does the four steps in one function
run on aiosqlite's thread: the statement, its rows, description, row count and last row
id come back together.

With `in_loop=True` (the writer's engine), a small statement inside a transaction that
has begun runs on the event loop's own thread instead, with no trip at all. Once BEGIN
IMMEDIATE has returned, the connection holds the write lock, and in WAL mode nothing else
it runs waits for another connection: the loop is held for SQLite's own time. What may
wait, or takes SQLite long, still travels:
- BEGIN IMMEDIATE, with the first statement: another process may hold the lock for up
  to the busy timeout;
- COMMIT: the fsync of `synchronous=FULL`, and WAL checkpoints;
- a statement outside a transaction: it commits, so it fsyncs;
- a statement that binds more than `IN_LOOP_MAX_VALUES` values (an executemany's rows
  times their columns). SQLite's time grows with the rows a statement writes or looks
  up, and on aiosqlite's thread it runs beside the loop, on the other core. The INSERT
  of a scheduler's claim of a hundred sends takes SQLite about 2.2 ms: run on the loop,
  such statements would delay the sends the loop makes, by enough to miss the timers'
  target (p99 lateness under 1 s). A trickled answer's statements bind a handful of
  values each, and take SQLite a few microseconds.
The longest statement left on the loop is one over a whole chain with few values: a
county warning's timers at ingest, about 0.1 s for 50,000 recipients (measured on SQLite
alone), next to the 1.2 s that ingest takes before its first SMS.

Everything else (connections, transactions, errors, server-side cursors) is SQLAlchemy's
and aiosqlite's own. Pass the adapter to `create_async_engine` as `module`.

Why it is worth building on private classes: a trip costs the loop about 40 µs of CPU,
more than SQLite takes for most statements, and SQLAlchemy has no public hook for a
cursor's trips. With one trip or none per statement (and the answer path's statements
built once), recording an SMS reply took 2.0 ms of CPU instead of 4.7 in a batch of one,
and the benchmark's answers rose from 0.08 to 0.14 of their baseline (bench/NOTES.md,
"SQLite's thread"). The price: it subclasses SQLAlchemy's aiosqlite adapter and uses
`aiosqlite.Connection._execute` and `_conn` (as SQLAlchemy's own adapter does for its
isolation level). pyproject.toml pins both to the minor release it was checked with;
tests/engine/test_sqlite_driver.py runs every kind of statement through it and fails,
naming the part, on a release that moves what it stands on.
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

__all__ = ["IN_LOOP_MAX_VALUES", "defer_begin", "one_trip_dbapi"]

# The most values a statement binds to run on the loop's thread; more travel, where
# SQLite's work overlaps the loop's. A trip costs the loop about 36 µs; SQLite takes
# that long for a few rows.
IN_LOOP_MAX_VALUES = 64

# What a statement leaves behind: description, rows, row count, last row id.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(
    connection: sqlite3.Connection,
    operation: str,
    parameters: Any,
    many: bool,
    begin: str | None,
) -> _Outcome:
    """On aiosqlite's thread (or the loop's, see `runs_in_loop`): the transaction's BEGIN
    if it is still to be issued, then the whole statement, its rows fetched, its cursor
    closed."""
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


def _values(parameters: Any, many: bool) -> int:
    """How many values a statement binds (qmark style: a sequence per row)."""
    if not parameters:
        return 0
    return len(parameters) * len(parameters[0]) if many else len(parameters)


async def _arrived() -> None:
    """Awaited after a statement run on the loop's thread: SQLAlchemy's async connection
    requires its driver to await something per statement, and this returns at once."""


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor that never holds an aiosqlite cursor: each statement is at
    most one trip, and what the statement left is kept here."""

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
            if begin is None and adapt_connection.runs_in_loop(parameters, many=many):
                outcome = _run(adapt_connection.sqlite, operation, parameters, many, None)
                await_(_arrived())
            else:
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

    __slots__ = ("_begin", "_in_loop")
    _cursor_cls: type[AsyncAdapt_aiosqlite_cursor] = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, *, in_loop: bool) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None
        self._in_loop = in_loop

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection aiosqlite opened (with check_same_thread off)."""
        connection: sqlite3.Connection = self._connection._conn
        return connection

    def runs_in_loop(self, parameters: Any, *, many: bool) -> bool:
        """Whether a statement runs on the loop's thread: with `in_loop`, inside a
        transaction that has begun (the write lock held), and a small one."""
        return (
            self._in_loop
            and self.sqlite.in_transaction
            and _values(parameters, many) <= IN_LOOP_MAX_VALUES
        )

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
    def __init__(self, *, in_loop: bool) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.in_loop = in_loop

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection, in_loop=self.in_loop)


def one_trip_dbapi(*, in_loop: bool = False) -> AsyncAdapt_aiosqlite_dbapi:
    """The aiosqlite DBAPI adapter whose cursors take at most one trip per statement;
    with `in_loop`, none for a small statement inside a transaction (see the module's
    note). `in_loop` is for an engine whose transactions begin with BEGIN IMMEDIATE: a
    deferred BEGIN takes the write lock at the first write, which may wait, and must not
    on the loop's thread."""
    return _OneTripDbapi(in_loop=in_loop)
