"""Key presses: a person answering the very send that reached them (key 1 on the call).

Many calls of a fan-out end within the same moments; recorded one to a transaction, their
answers queued for SQLite's writer one by one. `record_key_presses` records those that
arrive together in one transaction: their receipts in one statement, their sends in one
query, their answers set-based (`record_answers`), as SMS replies are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.answers import Claim, Closed, record_answers
from dispatcher.store.receipts import Receipt, Replayed, take_receipts
from dispatcher.store.schema import attempts

__all__ = ["KeyPress", "record_key_presses"]


@dataclass(frozen=True, slots=True)
class KeyPress:
    """The addressee of send `key` answered it, `via` a channel, at `at`; `receipt`: the
    provider's identity of the press, taken once."""

    key: str
    via: str
    at: datetime
    detail: str | None = None
    receipt: Receipt | None = None


_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
# Built once: its construction and cache key cost more than running it.
_SENDS = select(attempts.c.key, attempts.c.warning_id, attempts.c.person_id).where(
    attempts.c.key.in_(_KEYS)
)


async def record_key_presses(
    conn: AsyncConnection, presses: Sequence[KeyPress]
) -> list[Closed | None]:
    """Record `presses` in order: for each, what it closed, or None for a send that is
    unknown or has no person. Raises `Replayed`, with nothing written, when any receipt
    was taken before (a caller that batches then records each press alone)."""
    receipts = [press.receipt for press in presses if press.receipt is not None]
    if receipts:
        taken = await take_receipts(conn, receipts, max(press.at for press in presses))
        if not all(taken):
            raise Replayed(receipts[taken.index(False)].kind)
    keys = sorted({press.key for press in presses})
    sends = {row.key: row for row in await conn.execute(_SENDS, {"keys": keys})}
    claims: list[Claim] = []
    claimed: list[int] = []  # the press each claim came from
    for index, press in enumerate(presses):
        send = sends.get(press.key)
        if send is None or send.person_id is None:
            continue
        claims.append(
            Claim(
                send.warning_id,
                send.person_id,
                press.via,
                send.person_id,
                press.at,
                detail=press.detail,
            )
        )
        claimed.append(index)
    outcomes: list[Closed | None] = [None] * len(presses)
    for index, closed in zip(claimed, await record_answers(conn, claims), strict=True):
        outcomes[index] = closed
    return outcomes
