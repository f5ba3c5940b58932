"""Read-only queries behind the status API's warnings: the list and one warning's summary.

They run on the reader engine. Counts use the recipient state names of DESIGN.md, so the
numbers a duty officer sees add up to the recipients of the warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.machine import RecipientState
from dispatcher.core.phones import mask_phones_in_text
from dispatcher.store.place_views import area_names, place_names
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import (
    attempts,
    dead_letters,
    escalations,
    messages,
    recipients,
    tasks,
    timers,
    warnings,
)

RELATED_DEAD_LETTERS_SHOWN = 20


def warning_status(row: Any, now: datetime) -> str:
    """active, cancelled, cleared (downgrade/AllClear), expired or closed (every chain ended)."""
    if row.ending is not None:
        return "cancelled" if row.ending == "cancelled" else "cleared"
    if row.expires is not None and now >= row.expires:
        return "expired"
    if row.closed_at is not None:
        return "closed"
    return "active"


def active_warning(now: datetime) -> ColumnElement[bool]:
    """The SQL twin of `warning_status(row, now) == "active"`."""
    return and_(
        warnings.c.ending.is_(None),
        warnings.c.closed_at.is_(None),
        or_(warnings.c.expires.is_(None), warnings.c.expires > now),
    )


@dataclass(frozen=True, slots=True)
class WarningFilter:
    active: bool | None = None
    level: str | None = None
    drill: bool | None = None
    identifier: str | None = None


async def list_warnings(
    conn: AsyncConnection,
    where: WarningFilter,
    now: datetime,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """Warnings newest first (received_at, then id, descending), and the sort key of the
    last one when there may be more."""
    query = select(warnings)
    if where.active is not None:
        clause = active_warning(now)
        query = query.where(clause if where.active else not_(clause))
    if where.level is not None:
        query = query.where(warnings.c.level == where.level)
    if where.drill is not None:
        query = query.where(warnings.c.drill == where.drill)
    if where.identifier is not None:
        # Any message of the chain: an Update keeps the chain but has its own identifier.
        chains = select(messages.c.warning_id).where(messages.c.identifier == where.identifier)
        query = query.where(warnings.c.id.in_(chains))
    if after is not None:
        query = query.where(tuple_(warnings.c.received_at, warnings.c.id) < tuple_(*after))
    query = query.order_by(warnings.c.received_at.desc(), warnings.c.id.desc()).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    page = rows[:limit]
    counts = await _recipient_counts(conn, [row.id for row in page])
    items = []
    for row in page:
        total, answered = counts.get(row.id, (0, 0))
        items.append(
            {
                "id": row.id,
                "identifier": row.identifier,
                "sender": row.sender,
                "event": row.event,
                "headline": row.headline,
                "level": row.level,
                "drill": row.drill,
                "status": warning_status(row, now),
                "sent": row.sent.isoformat(),
                "received_at": row.received_at.isoformat(),
                "expires": row.expires.isoformat() if row.expires else None,
                "recipients": total,
                "answered": answered,
                "answer_rate": _rate(answered, total),
            }
        )
    last = page[-1] if len(rows) > limit else None
    return items, (last.received_at, last.id) if last is not None else None


async def _recipient_counts(
    conn: AsyncConnection, warning_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    if not warning_ids:
        return {}
    answered = func.sum(case((recipients.c.state == RecipientState.ANSWERED.value, 1), else_=0))
    rows = await conn.execute(
        select(recipients.c.warning_id, func.count(), answered)
        .where(recipients.c.warning_id.in_(warning_ids))
        .group_by(recipients.c.warning_id)
    )
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}


async def warning_summary(
    conn: AsyncConnection, warning_id: str, now: datetime, rosters: RosterVersions
) -> dict[str, Any] | None:
    """Everything the duty officer's overview shows of one warning; None if unknown."""
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
    answered_at = (
        await conn.execute(
            select(recipients.c.answered_at).where(
                recipients.c.warning_id == warning_id,
                recipients.c.state == RecipientState.ANSWERED.value,
                recipients.c.answered_at.is_not(None),
            )
        )
    ).scalars()
    by_level = {
        str(level): int(count)
        for level, count in await conn.execute(
            select(escalations.c.level, func.count())
            .where(escalations.c.warning_id == warning_id)
            .group_by(escalations.c.level)
            .order_by(escalations.c.level)
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
        "received_at": row.received_at.isoformat(),
        "event": row.event,
        "headline": row.headline,
        "level": row.level,
        "drill": row.drill,
        "status": warning_status(row, now),
        "revision": row.revision,
        "clock_start": row.clock_start.isoformat(),
        "expires": row.expires.isoformat() if row.expires else None,
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "grids": len(row.grids),
        "places": place_names(
            await rosters.get(conn, row.roster_id), row.grids, await area_names(conn, warning_id)
        ),
        "unmatched_areas": list(row.unmatched_areas),
        "recipients": total,
        "states": states,
        "answered": states[RecipientState.ANSWERED.value],
        "answer_rate": _rate(states[RecipientState.ANSWERED.value], total),
        "time_to_answer": time_to_answer(row.clock_start, list(answered_at)),
        "escalations_by_level": by_level,
        "tasks": await _tasks(conn, warning_id, row.roster_id, rosters),
        "dead_letters": await _related_dead_letters(conn, warning_id),
        "messages": await _messages(conn, warning_id),
        "chains_waiting": int(waiting),
        # channel:status → count; `simulated` means simulate mode: nobody was reached.
        "sends": sends,
        "possible_duplicate_sends": int(resent),
    }


def time_to_answer(clock_start: datetime, answered_at: Sequence[datetime]) -> dict[str, Any]:
    """Seconds from the SLA clock's start to each answer: p50, p90 (nearest rank) and max.

    Nearest rank reports a time somebody really took, never an interpolated one. An answer
    given before a restarted clock (level raised) counts as 0 s, not as a negative time.
    """
    seconds = sorted(max(0.0, (at - clock_start).total_seconds()) for at in answered_at)
    if not seconds:
        return {"answered": 0, "p50": None, "p90": None, "max": None}
    return {
        "answered": len(seconds),
        "p50": round(nearest_rank(seconds, 0.5), 3),
        "p90": round(nearest_rank(seconds, 0.9), 3),
        "max": round(seconds[-1], 3),
    }


def nearest_rank(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def _tasks(
    conn: AsyncConnection, warning_id: str, roster_id: str, rosters: RosterVersions
) -> dict[str, Any]:
    rows = (
        await conn.execute(
            select(tasks).where(tasks.c.warning_id == warning_id).order_by(tasks.c.id)
        )
    ).all()
    roster = await rosters.get(conn, roster_id)
    reports = []
    for task in rows:
        if task.status != "done":
            continue
        reports.append(
            {
                "task_id": task.id,
                "kind": task.kind,
                "assignee_id": task.assignee_id,
                "assignee_name": roster.name_of(task.assignee_id),
                "grid_codes": list(task.grid_codes),
                "reported_at": task.reported_at.isoformat() if task.reported_at else None,
                "report": masked_report(task.report),
            }
        )
    # A gong is not a door-knock: the totals stay as they were, each kind is counted too.
    by_kind: dict[str, dict[str, int]] = {}
    for task in rows:
        counts = by_kind.setdefault(task.kind, {"open": 0, "done": 0})
        if task.status in counts:
            counts[task.status] += 1
    return {
        "open": sum(1 for task in rows if task.status == "open"),
        "done": sum(1 for task in rows if task.status == "done"),
        "by_kind": by_kind,
        "reports": reports,
    }


def masked_report(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """A door-knock report for display: a number typed into its note is masked."""
    if report is None:
        return None
    return {k: mask_phones_in_text(v) if isinstance(v, str) else v for k, v in report.items()}


def related_dead_letter(warning_id: str) -> ColumnElement[bool]:
    """Dead letters about this warning: recorded against it, or carrying the sender and
    identifier of one of its messages (a broken Update of it, a malformed repeat)."""
    keys = select(messages.c.sender, messages.c.identifier).where(
        messages.c.warning_id == warning_id
    )
    return or_(
        dead_letters.c.warning_id == warning_id,
        tuple_(dead_letters.c.sender, dead_letters.c.identifier).in_(keys),
    )


async def _related_dead_letters(conn: AsyncConnection, warning_id: str) -> dict[str, Any]:
    related = related_dead_letter(warning_id)
    count = (await conn.execute(select(func.count()).where(related))).scalar_one()
    rows = await conn.execute(
        select(
            dead_letters.c.id,
            dead_letters.c.received_at,
            dead_letters.c.source,
            dead_letters.c.reason,
            dead_letters.c.path,
        )
        .where(related)
        .order_by(dead_letters.c.id.desc())
        .limit(RELATED_DEAD_LETTERS_SHOWN)
    )
    return {
        "count": int(count),
        "latest": [
            {
                "id": row.id,
                "received_at": row.received_at.isoformat(),
                "source": row.source,
                "reason": row.reason,
                "path": row.path,
            }
            for row in rows
        ],
    }


async def _messages(conn: AsyncConnection, warning_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(
            messages.c.msg_type,
            messages.c.identifier,
            messages.c.sent,
            messages.c.received_at,
            messages.c.revision,
            messages.c.source,
        )
        .where(messages.c.warning_id == warning_id)
        .order_by(messages.c.id)
    )
    return [
        {
            "msg_type": row.msg_type,
            "identifier": row.identifier,
            "sent": row.sent.isoformat(),
            "received_at": row.received_at.isoformat(),
            "revision": row.revision,
            "source": row.source,
        }
        for row in rows
    ]


def _rate(answered: int, total: int) -> float:
    return round(answered / total, 4) if total else 0.0
