"""Events for producers, written in the same transaction as the change they report.

A publisher drains the outbox to RabbitMQ with confirms; a broker outage delays events,
it never loses them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.model import Level
from dispatcher.store.schema import outbox

EVENT_KINDS = ("answered", "escalated", "unreachable", "summary")


def event_row(kind: str, level: Level, *, now: datetime, body: dict[str, Any]) -> dict[str, Any]:
    """An outbox row for an event of `kind` about a warning of `level` (`escalated.red`)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return {
        "routing_key": f"{kind}.{level.value}",
        "body": {"event": kind, "level": level.value, "at": now.isoformat(), **body},
        "created_at": now,
    }


async def enqueue_event(
    conn: AsyncConnection, kind: str, level: Level, *, now: datetime, body: dict[str, Any]
) -> None:
    await conn.execute(insert(outbox), [event_row(kind, level, now=now, body=body)])
