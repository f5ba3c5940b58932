"""Callback receipts on both stores: taken once, even by two at the same moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.receipts import (
    MAX_KEY,
    Receipt,
    forget_receipts,
    take_receipt,
    take_receipts,
)
from dispatcher.store.schema import callback_receipts
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


async def test_a_receipt_is_taken_once_and_forgotten_only_when_old(db_url: str) -> None:
    db = open_database(db_url)
    try:
        await migrate.upgrade(db)
        sms = Receipt("twilio-sms", "SM" + "a" * 32)
        async with db.writer.begin() as conn:
            assert await take_receipt(conn, sms, NOW)
            assert not await take_receipt(conn, sms, NOW + timedelta(days=7))
            assert await take_receipt(conn, Receipt("twilio-key", sms.key), NOW), "per kind"
            assert await take_receipt(conn, Receipt("wechat", "1751338800:1"), NOW)
            assert await take_receipt(
                conn, Receipt("wechat", "1751339400:2"), NOW + timedelta(minutes=10)
            )
            long = Receipt("twilio-key", "CA" + "b" * 400)
            assert await take_receipt(conn, long, NOW)
            assert not await take_receipt(conn, long, NOW), "cut to the column, still unique"
        async with db.writer.begin() as conn:
            assert await forget_receipts(conn, "wechat", NOW + timedelta(minutes=5)) == 1
        async with db.reader.connect() as conn:
            kept = {
                (row.kind, len(row.key)) for row in await conn.execute(select(callback_receipts))
            }
        assert kept == {
            ("twilio-sms", 34),
            ("twilio-key", 34),
            ("wechat", 12),
            ("twilio-key", MAX_KEY),
        }
    finally:
        await db.dispose()


async def test_two_copies_at_the_same_moment_are_taken_once(db_url: str) -> None:
    db = open_database(db_url)
    try:
        await migrate.upgrade(db)
        receipt = Receipt("twilio-sms", "SM" + "c" * 32)

        async def take() -> bool:
            async with db.writer.begin() as conn:
                taken = await take_receipt(conn, receipt, NOW)
                await asyncio.sleep(0.2)  # still open while the other one tries
                return taken

        assert sorted(await asyncio.gather(take(), take(), take())) == [False, False, True]
    finally:
        await db.dispose()


async def test_receipts_taken_together_are_new_once_each(db_url: str) -> None:
    db = open_database(db_url)
    try:
        await migrate.upgrade(db)
        first, second, third = (Receipt("twilio-sms", f"SM{n:032x}") for n in range(3))
        async with db.writer.begin() as conn:
            assert await take_receipt(conn, second, NOW)
        async with db.writer.begin() as conn:
            taken = await take_receipts(conn, [third, first, second, first, third], NOW)
        assert taken == [True, True, False, False, False], "in the order given, first copy new"
        async with db.writer.begin() as conn:
            assert await take_receipts(conn, [first, second, third], NOW) == [False] * 3
            assert await take_receipts(conn, [], NOW) == []
    finally:
        await db.dispose()
