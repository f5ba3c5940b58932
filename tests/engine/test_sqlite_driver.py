"""The SQLite driver: what the store reads back through it, and its trips to SQLite's thread.

`open_database` gives SQLite engines whose cursor runs a whole statement in one trip to
aiosqlite's thread, and the writer's runs a statement inside a write transaction on the
event loop's thread with no trip (dispatcher/store/sqlite_driver.py). These check what
SQLAlchemy and the store rely on of a DBAPI cursor (rows, row counts, generated ids,
RETURNING, errors that leave the connection usable) on both paths, that what may wait
(BEGIN IMMEDIATE, COMMIT) still travels, and the trips a transaction takes, which is
what the benchmark's answers and fan-out figures stand on.
"""

from __future__ import annotations

import ast
import inspect
import sqlite3
import textwrap
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import aiosqlite
import pytest
import sqlalchemy
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection as AsyncConnectionAdapter,
)
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_cursor as AsyncCursor
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.db import Database
from dispatcher.store.schema import callback_receipts, dead_letters
from dispatcher.store.sqlite_driver import IN_LOOP_MAX_VALUES

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _letter(reason: str) -> dict[str, Any]:
    return {
        "received_at": NOW,
        "source": "test",
        "content_type": "x",
        "reason": reason,
        "path": "",
        "size": 0,
        "excerpt": b"",
    }


async def test_rows_ids_counts_and_returning_come_back(db: Database) -> None:
    async with db.writer.begin() as conn:
        first = await conn.execute(insert(dead_letters).values(_letter("a")))
        assert first.inserted_primary_key is not None and first.inserted_primary_key[0] >= 1
        many = await conn.execute(insert(dead_letters), [_letter(r) for r in "bcd"])
        assert many.rowcount == 3
        returned = await conn.execute(
            insert(dead_letters).returning(dead_letters.c.reason),
            [_letter(r) for r in "ef"],
        )
        assert sorted(returned.scalars()) == ["e", "f"]
        moved = await conn.execute(
            update(dead_letters).where(dead_letters.c.reason.in_(["a", "b"])).values(size=7)
        )
        assert moved.rowcount == 2, "a fenced UPDATE is judged by its row count"
    async with db.reader.connect() as conn:
        rows = (await conn.execute(select(dead_letters.c.reason, dead_letters.c.size))).all()
        assert sorted(rows) == [("a", 7), ("b", 7), ("c", 0), ("d", 0), ("e", 0), ("f", 0)]
        assert list((await conn.execute(text("SELECT 1 AS one"))).mappings()) == [{"one": 1}]


async def test_a_failed_statement_raises_and_rolls_back_and_the_connection_goes_on(
    db: Database,
) -> None:
    receipt = {"kind": "twilio-sms", "key": "SM1", "seen_at": NOW}
    async with db.writer.begin() as conn:
        await conn.execute(insert(callback_receipts), [receipt])

    async def lost() -> None:
        async with db.writer.begin() as conn:
            await conn.execute(insert(dead_letters).values(_letter("lost")))
            await conn.execute(insert(callback_receipts), [receipt])

    with pytest.raises(IntegrityError):
        await lost()
    async with db.writer.begin() as conn:
        await conn.execute(insert(dead_letters).values(_letter("kept")))
    async with db.reader.connect() as conn:
        reasons = list((await conn.execute(select(dead_letters.c.reason))).scalars())
        receipts = (
            await conn.execute(select(func.count()).select_from(callback_receipts))
        ).scalar()
    assert reasons == ["kept"], "the failed transaction left nothing behind"
    assert receipts == 1


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts the trips to aiosqlite's thread from now on; call it for the count so far."""
    count = 0
    travel: Callable[..., Any] = aiosqlite.Connection._execute  # every trip passes here

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return await travel(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return lambda: count


async def test_a_read_is_one_trip_to_the_sqlite_thread(
    db: Database, trips: Callable[[], int]
) -> None:
    async with db.reader.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the transaction has begun before counting
        before = trips()
        await conn.execute(select(dead_letters.c.reason).where(dead_letters.c.size > 0))
        await conn.execute(select(func.count()).select_from(callback_receipts))
        assert trips() - before == 2, "two statements (aiosqlite's own adapter: 7)"


async def test_a_write_transaction_travels_for_begin_and_commit_alone(
    db: Database, trips: Callable[[], int]
) -> None:
    async with db.writer.begin() as conn:
        await conn.execute(text("SELECT 1"))  # the pooled connection is open from here
    before = trips()
    async with db.writer.begin() as conn:
        await conn.execute(insert(dead_letters), [_letter("a")])
        await conn.execute(select(dead_letters.c.reason))
        await conn.execute(update(dead_letters).values(size=1))
    assert trips() - before == 2, "BEGIN with the first statement, then COMMIT (was 4)"
    before = trips()
    async with db.writer.begin():
        pass
    assert trips() == before, "a transaction that ran nothing took a trip"


@asynccontextmanager
async def _statement_threads(conn: AsyncConnection) -> AsyncIterator[list[tuple[str, bool]]]:
    """Within the block, each statement SQLite runs on `conn`'s connection, and whether it
    ran on this (the event loop's) thread. SQLite calls the trace where the statement runs."""
    raw = await conn.get_raw_connection()
    sqlite: sqlite3.Connection = raw.driver_connection._conn  # type: ignore[union-attr]
    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool]] = []
    sqlite.set_trace_callback(
        lambda sql: seen.append((sql.split()[0].upper(), threading.get_ident() == loop_thread))
    )
    try:
        yield seen
    finally:
        sqlite.set_trace_callback(None)


async def test_a_write_transaction_runs_its_small_statements_on_the_loop(db: Database) -> None:
    async with db.writer.connect() as conn, _statement_threads(conn) as seen, conn.begin():
        await conn.execute(insert(dead_letters), [_letter("a")])
        await conn.execute(select(dead_letters.c.reason))
        await conn.execute(insert(dead_letters), [_letter("b"), _letter("c")])
        big = [_letter(str(n)) for n in range(IN_LOOP_MAX_VALUES // len(_letter("")) + 1)]
        await conn.execute(insert(dead_letters), big)
    # executemany traces each row's INSERT; what matters is where each kind ran.
    ran = [step for step, _ in groupby(seen)]
    assert ran == [
        ("BEGIN", False),  # may wait for the write lock: on SQLite's thread
        ("INSERT", False),  # travels with BEGIN
        ("SELECT", True),
        ("INSERT", True),  # a small executemany
        ("INSERT", False),  # one binding more values travels
        ("COMMIT", False),  # the fsync travels
    ]


async def test_reads_always_travel(db: Database) -> None:
    async with db.reader.connect() as conn, _statement_threads(conn) as seen:
        await conn.execute(select(dead_letters.c.reason))
        await conn.execute(select(func.count()).select_from(dead_letters))
        await conn.rollback()
    assert seen, "the trace saw nothing"
    assert all(not here for _, here in seen), seen


async def test_a_failed_statement_on_the_loop_raises_and_rolls_back(db: Database) -> None:
    receipt = {"kind": "twilio-sms", "key": "SM2", "seen_at": NOW}

    async def lost() -> None:
        async with db.writer.begin() as conn:
            await conn.execute(insert(callback_receipts), [receipt])  # travels with BEGIN
            await conn.execute(insert(dead_letters).values(_letter("lost")))  # on the loop
            await conn.execute(insert(callback_receipts), [receipt])  # on the loop: fails

    with pytest.raises(IntegrityError):
        await lost()
    async with db.writer.begin() as conn:
        await conn.execute(insert(callback_receipts), [receipt])
        await conn.execute(insert(dead_letters).values(_letter("kept")))
    async with db.reader.connect() as conn:
        reasons = list((await conn.execute(select(dead_letters.c.reason))).scalars())
    assert reasons == ["kept"], "the failed transaction left nothing behind"


async def test_the_write_lock_is_held_from_the_first_statement_to_the_commit(
    db: Database,
) -> None:
    path = make_url(db.url).database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with db.writer.begin() as conn:
            await conn.execute(insert(dead_letters), [_letter("a")])
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free once committed
        other.execute("ROLLBACK")
    finally:
        other.close()


# The driver subclasses SQLAlchemy's aiosqlite adapter and reaches into aiosqlite; both
# are private. pyproject.toml pins both ranges; these fail, naming what changed, on a
# release that moves what the driver stands on, before any behaviour test could
# mislead.


def _assigned(function: Callable[..., Any]) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }


def _init_of(owner: type) -> Callable[..., Any]:
    init: Callable[..., Any] = next(
        c.__dict__["__init__"] for c in owner.__mro__ if "__init__" in c.__dict__
    )
    return init


def test_the_adapter_s_cursor_sets_up_what_the_one_trip_cursor_replaces() -> None:
    assert _assigned(_init_of(AsyncCursor)) == {
        "_adapt_connection",
        "_connection",
        "_cursor",
        "_soft_closed_memoized",
        "_rows",
    }, (
        f"SQLAlchemy {sqlalchemy.__version__} changed what its aiosqlite cursor sets up: "
        "check _OneTripCursor.__init__ in dispatcher/store/sqlite_driver.py against it"
    )


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (AsyncCursor, "execute"),
        (AsyncCursor, "executemany"),
        (AsyncCursor, "close"),
        (AsyncCursor, "_async_soft_close"),
        (AsyncCursor, "description"),
        (AsyncCursor, "rowcount"),
        (AsyncCursor, "lastrowid"),
        (AsyncConnectionAdapter, "_handle_exception"),
        (AsyncConnectionAdapter, "_cursor_cls"),
        (AsyncConnectionAdapter, "commit"),
        (AsyncConnectionAdapter, "rollback"),
        (aiosqlite.Connection, "_execute"),
    ],
)
def test_what_the_driver_overrides_or_calls_is_still_there(owner: type, name: str) -> None:
    assert hasattr(owner, name), (
        f"{owner.__module__}.{owner.__qualname__}.{name} is gone "
        f"(SQLAlchemy {sqlalchemy.__version__}, aiosqlite {aiosqlite.__version__}): "
        "dispatcher/store/sqlite_driver.py builds on it"
    )


def test_the_adapter_s_connection_still_holds_an_execute_mutex() -> None:
    assert "_execute_mutex" in _assigned(_init_of(AsyncConnectionAdapter)), (
        f"SQLAlchemy {sqlalchemy.__version__}'s aiosqlite connection has no _execute_mutex: "
        "_OneTripCursor._in_thread holds it around each trip"
    )


def test_aiosqlite_keeps_its_sqlite3_connection_as_conn() -> None:
    assert "self._conn" in inspect.getsource(aiosqlite.Connection), (
        f"aiosqlite {aiosqlite.__version__} no longer keeps its sqlite3 connection in _conn: "
        "dispatcher/store/sqlite_driver.py runs statements on it"
    )
