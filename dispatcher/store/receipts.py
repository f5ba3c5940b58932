"""Callback receipts: what a provider sent that was taken, so it is taken only once.

A provider's signature proves who made a request, not when: Twilio signs no timestamp,
and a WeChat signature stays valid for as long as its timestamp is accepted. So a
genuine callback, captured and sent again, would pass every signature check. Each one
that changes something is remembered by what identifies it (`Receipt`) in the same
transaction as its effect, and a second one finds the row there and is refused: a
crash before the commit leaves neither, so the provider's retry is still taken.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.chains import insert_of
from dispatcher.store.schema import callback_receipts

__all__ = ["MAX_KEY", "Receipt", "Replayed", "forget_receipts", "take_receipt", "take_receipts"]

MAX_KEY = 255


class Replayed(Exception):
    """The callback was taken before: a replay (or a retry of one already recorded)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What identifies one callback: `kind` ("twilio-sms", "twilio-key", "wechat") and the
    provider's own identity of it (a MessageSid; call, key and digits; timestamp and
    nonce). Longer keys are cut to the column's length."""

    kind: str
    key: str


async def take_receipt(conn: AsyncConnection, receipt: Receipt, at: datetime) -> bool:
    """Record `receipt` in this transaction; False when it was recorded before."""
    (taken,) = await take_receipts(conn, [receipt], at)
    return taken


async def take_receipts(
    conn: AsyncConnection, receipts: Sequence[Receipt], at: datetime
) -> list[bool]:
    """Record these receipts in this transaction, in one statement; for each, whether it
    was new (a receipt given twice is new only the first time).

    ON CONFLICT DO NOTHING: two copies arriving together never both pass (on PostgreSQL
    the second waits for the first's commit, then finds its row). Inserted in key order,
    so two transactions taking the same receipts never wait for each other in a cycle.
    """
    keys = [(receipt.kind, receipt.key[:MAX_KEY]) for receipt in receipts]
    distinct = sorted(set(keys))
    if not distinct:
        return []
    rows = [{"kind": kind, "key": key, "seen_at": at} for kind, key in distinct]
    statement = _take_statement(conn.dialect.name)
    new = {(row.kind, row.key) for row in await conn.execute(statement, rows)}
    taken = []
    for key in keys:
        taken.append(key in new)
        new.discard(key)
    return taken


@functools.cache
def _take_statement(dialect: str) -> Any:
    # One statement for any number of rows (executed as "insertmanyvalues"): a VALUES list
    # of the batch's own length would be a new statement to compile for most batches.
    # Built once: building it costs as much as running it, for an SMS reply on its own.
    return (
        insert_of(dialect, callback_receipts)
        .on_conflict_do_nothing(index_elements=["kind", "key"])
        .returning(callback_receipts.c.kind, callback_receipts.c.key)
    )


async def forget_receipts(conn: AsyncConnection, kind: str, before: datetime) -> int:
    """Delete the receipts of `kind` taken before `before`; how many went."""
    result = await conn.execute(
        delete(callback_receipts).where(
            callback_receipts.c.kind == kind, callback_receipts.c.seen_at < before
        )
    )
    return int(result.rowcount or 0)
