"""Delivery reports, recorded many to a transaction.

A fan-out of N SMS brings 2N reports back (`sent`, then `delivered`), and a call four
progress events and a machine verdict. Recorded one to a transaction, they queued for
SQLite's single writer one by one, ahead of the send results the sender's window waits
for. `record_deliveries` applies a batch set-based: one read of the sends they name, one
write of each kind, in the lock order of the result writer (timers, recipients, then the
sends), so a PostgreSQL replica's batch never waits on a result writer in a cycle.

Reports arrive twice, late, or out of order (`delivered` before `sent`, a Twilio retry).
A status only ever moves forward: each report is weighed against what the send was when
the batch began and what the reports before it in the batch made of it, exactly as one
report to a transaction would; the write itself still moves a send only forward, in case
another replica moved it meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Integer, String, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.chains import mark_delivered, wake_recipients
from dispatcher.store.schema import UTCDateTime, attempts

__all__ = ["RANK", "Delivery", "Moved", "SendView", "look_up_sends", "record_deliveries"]

# How far along a send is; a report may only move it to a higher rank.
RANK = {"claimed": 0, "sent": 1, "simulated": 1, "failed": 2, "rejected": 2, "delivered": 3}
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    """One report: the send (jiaoying's `key`, else the provider's id) and what became of it."""

    key: str | None
    provider_id: str | None
    status: str
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Moved:
    """A report that moved its send: the send's channel (for the metrics) and id."""

    channel: str
    send_id: int


@dataclass(slots=True)
class _Send:
    id: int
    recipient_id: int | None
    channel: str
    status: str
    row: dict[str, Any] | None = None  # the write, once a report of the batch moved it


@dataclass(frozen=True, slots=True)
class SendView:
    """A send as a call's callbacks need it: its state, and the notice it carries."""

    status: str
    error_reason: str | None
    payload: Any


_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_PROVIDER_IDS: BindParameter[Any] = bindparam("provider_ids", expanding=True)
_COLUMNS = (
    attempts.c.id,
    attempts.c.key,
    attempts.c.provider_id,
    attempts.c.recipient_id,
    attempts.c.channel,
    attempts.c.status,
)
# Built once: a statement's construction and cache key cost more than running it.
_BY_KEY = select(*_COLUMNS).where(attempts.c.key.in_(_KEYS))
_BY_PROVIDER_ID = select(*_COLUMNS).where(attempts.c.provider_id.in_(_PROVIDER_IDS))
_VIEWS = select(
    attempts.c.key, attempts.c.status, attempts.c.error_reason, attempts.c.payload
).where(attempts.c.key.in_(_KEYS))
_RANK_OF = case(RANK, value=attempts.c.status, else_=-1)
# (Plain bind parameters, no IN: an expanding IN cannot run as executemany.)
_MOVE = (
    update(attempts)
    .where(attempts.c.id == bindparam("aid"), bindparam("rank", type_=Integer) > _RANK_OF)
    .values(
        status=bindparam("status", type_=String),
        updated_at=bindparam("at", type_=UTCDateTime),
        provider_id=func.coalesce(bindparam("provider_id", type_=String), attempts.c.provider_id),
        error_reason=func.coalesce(bindparam("reason", type_=String), attempts.c.error_reason),
        error_detail=func.coalesce(bindparam("detail", type_=String), attempts.c.error_detail),
    )
)


async def record_deliveries(
    conn: AsyncConnection, deliveries: Sequence[Delivery], at: datetime
) -> list[Moved | None]:
    """Apply `deliveries` in order; for each, whether (and which send) it moved.

    An unknown send, or a report that would move its send backwards or nowhere, moves
    nothing. A send to a person that failed for good wakes their chain (the machine can
    escalate at once); a delivered one shows the person `delivered`.
    """
    sends = await _sends_of(conn, deliveries)
    outcomes: list[Moved | None] = []
    woken: list[int] = []
    delivered: list[int] = []
    for report in deliveries:
        send = sends.get(report.key) if report.key is not None else None
        if send is None and report.key is None and report.provider_id is not None:
            send = sends.get(("provider", report.provider_id))
        if send is None or RANK.get(report.status, -1) <= RANK.get(send.status, -1):
            outcomes.append(None)
            continue
        send.status = report.status
        send.row = _moved_row(send, report, at)
        if send.recipient_id is not None:
            if report.status == "delivered":
                delivered.append(send.recipient_id)
            elif report.status == "rejected":
                woken.append(send.recipient_id)
        outcomes.append(Moved(send.channel, send.id))
    rows = sorted(
        {id(send): send.row for send in sends.values() if send.row is not None}.values(),
        key=lambda row: row["aid"],
    )
    if woken:
        await wake_recipients(conn, woken, at)
    if delivered:
        await mark_delivered(conn, sorted(set(delivered)))
    if rows:
        await conn.execute(_MOVE, rows)
    return outcomes


async def look_up_sends(conn: AsyncConnection, keys: Sequence[str]) -> list[SendView | None]:
    """The sends of `keys`, in one query; None for a key no send has."""
    found = {
        row.key: SendView(row.status, row.error_reason, row.payload)
        for row in await conn.execute(_VIEWS, {"keys": sorted(set(keys))})
    }
    return [found.get(key) for key in keys]


def _moved_row(send: _Send, report: Delivery, at: datetime) -> dict[str, Any]:
    """The write of `send` once `report` moved it, on top of what earlier reports of the
    batch wrote: a report without a provider id or a reason keeps the one before."""
    before = send.row or {"provider_id": None, "reason": None, "detail": None}
    with_reason = report.reason is not None
    return {
        "aid": send.id,
        "rank": RANK[report.status],
        "status": report.status,
        "at": at,
        "provider_id": report.provider_id or before["provider_id"],
        "reason": report.reason if with_reason else before["reason"],
        "detail": (report.detail or "")[:MAX_DETAIL] if with_reason else before["detail"],
    }


async def _sends_of(conn: AsyncConnection, deliveries: Sequence[Delivery]) -> dict[object, _Send]:
    """The sends the reports name, by key and (for a report without one) by provider id:
    one object per send, whichever way it was named."""
    keys = sorted({report.key for report in deliveries if report.key is not None})
    provider_ids = sorted(
        {
            report.provider_id
            for report in deliveries
            if report.key is None and report.provider_id is not None
        }
    )
    found: dict[object, _Send] = {}
    by_id: dict[int, _Send] = {}
    queries = [(_BY_KEY, {"keys": keys}), (_BY_PROVIDER_ID, {"provider_ids": provider_ids})]
    for statement, params in queries:
        if not next(iter(params.values())):
            continue
        for row in await conn.execute(statement, params):
            send = by_id.setdefault(
                row.id, _Send(row.id, row.recipient_id, row.channel, row.status)
            )
            found[row.key] = send
            if row.provider_id is not None:
                found[("provider", row.provider_id)] = send
    return found
