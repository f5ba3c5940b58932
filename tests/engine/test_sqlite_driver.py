"""The SQLite driver: what the store reads back through it, and one trip per statement.

`open_database` gives SQLite engines whose cursor runs a whole statement in one trip to
aiosqlite's thread (dispatcher/store/sqlite_driver.py). These check what SQLAlchemy and
the store rely on of a DBAPI cursor (rows, row counts, generated ids, RETURNING, errors
that leave the connection usable), and that the service's engines take one trip a
statement, which is what the benchmark's answers and fan-out figures stand on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from dispatcher.store.db import Database
from dispatcher.store.schema import callback_receipts, dead_letters

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


async def test_a_statement_is_one_trip_to_the_sqlite_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = 0
    travel = aiosqlite.Connection._execute  # every call to aiosqlite's thread passes here

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await travel(self, fn, *args, **kwargs)

    async with db.writer.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection is open before counting
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await conn.execute(select(dead_letters.c.reason).where(dead_letters.c.size > 0))
        await conn.execute(insert(dead_letters), [_letter(r) for r in "xyz"])
        assert trips == 2, f"{trips} trips for two statements (aiosqlite's own adapter: 7)"
        await conn.rollback()
