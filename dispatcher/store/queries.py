"""Read-only queries behind the status API. They run on the reader engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.machine import RecipientState
from dispatcher.store.schema import attempts, escalations, recipients, tasks, timers, warnings


def warning_status(row: Any, now: datetime) -> str:
    """active, cancelled (Cancel, or cleared by a downgrade/AllClear), expired or closed."""
    if row.ending is not None:
        return "cancelled" if row.ending == "cancelled" else "cleared"
    if row.expires is not None and now >= row.expires:
        return "expired"
    if row.closed_at is not None:
        return "closed"
    return "active"


async def warning_summary(
    conn: AsyncConnection, warning_id: str, now: datetime
) -> dict[str, Any] | None:
    row = (await conn.execute(select(warnings).where(warnings.c.id == warning_id))).one_or_none()
    if row is None:
        return None
    states = {state.value: 0 for state in RecipientState}
    for state, count in await conn.execute(
        select(recipients.c.state, func.count())
        .where(recipients.c.warning_id == warning_id)
        .group_by(recipients.c.state)
    ):
        states[state] = int(count)
    total = sum(states.values())
    by_level = {
        int(level): int(count)
        for level, count in await conn.execute(
            select(escalations.c.level, func.count())
            .where(escalations.c.warning_id == warning_id)
            .group_by(escalations.c.level)
        )
    }
    task_counts = {
        status: int(count)
        for status, count in await conn.execute(
            select(tasks.c.status, func.count())
            .where(tasks.c.warning_id == warning_id)
            .group_by(tasks.c.status)
        )
    }
    sends = {
        f"{channel}:{status}": int(count)
        for channel, status, count in await conn.execute(
            select(attempts.c.channel, attempts.c.status, func.count())
            .where(attempts.c.warning_id == warning_id)
            .group_by(attempts.c.channel, attempts.c.status)
        )
    }
    resent = (
        await conn.execute(
            select(func.count()).where(attempts.c.warning_id == warning_id, attempts.c.resends > 0)
        )
    ).scalar_one()
    waiting = (
        await conn.execute(
            select(func.count())
            .select_from(timers.join(recipients, timers.c.recipient_id == recipients.c.id))
            .where(recipients.c.warning_id == warning_id)
        )
    ).scalar_one()
    return {
        "id": row.id,
        "identifier": row.identifier,
        "sender": row.sender,
        "sent": row.sent.isoformat(),
        "event": row.event,
        "headline": row.headline,
        "level": row.level,
        "drill": row.drill,
        "status": warning_status(row, now),
        "revision": row.revision,
        "expires": row.expires.isoformat() if row.expires else None,
        "recipients": total,
        "states": states,
        "answer_rate": round(states["answered"] / total, 4) if total else 0.0,
        "escalations_by_level": by_level,
        "tasks": {"open": task_counts.get("open", 0), "done": task_counts.get("done", 0)},
        "chains_waiting": int(waiting),
        # channel:status → count; `simulated` means simulate mode: nobody was reached.
        "sends": sends,
        "possible_duplicate_sends": int(resent),
    }
