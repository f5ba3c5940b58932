"""Escalations, summons and door-knock tasks.

A supervisor gets one notice per step naming every silent person it is about, not one
call per person: the first escalation of a step opens a *summons* that gathers for a
moment (`gather_until`), later ones join it, and when it is due the scheduler sends one
notice naming them all. An escalation that arrives after its summons went out opens the
next batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.effects import EscalationRow, SummonsJoin, TaskJoin
from dispatcher.core.gong import zone_task_occasion
from dispatcher.core.machine import RecipientState
from dispatcher.store.chains import upsert
from dispatcher.store.schema import attempts, escalations, recipients, summons, tasks

_OPEN_TRIES = 3


@dataclass(frozen=True, slots=True)
class DueSummons:
    id: int
    warning_id: str
    person_id: str
    kind: str
    occasion: str
    channels: tuple[str, ...]
    task_id: int | None


@dataclass(frozen=True, slots=True)
class Member:
    recipient_id: int
    person_id: str
    grid_codes: tuple[str, ...]
    answered: bool


async def add_escalations(
    conn: AsyncConnection, warning_id: str, rows: Sequence[EscalationRow], now: datetime
) -> None:
    if not rows:
        return
    statement = upsert(conn, escalations).on_conflict_do_nothing(
        index_elements=["recipient_id", "occasion"]
    )
    await conn.execute(
        statement,
        [
            {
                "warning_id": warning_id,
                "recipient_id": row.recipient_id,
                "level": row.level,
                "occasion": row.occasion,
                "target_id": row.target_id,
                "created_at": now,
            }
            for row in rows
        ],
    )


async def join_tasks(
    conn: AsyncConnection, warning_id: str, joins: Sequence[TaskJoin], now: datetime
) -> dict[tuple[str | None, str], int]:
    """Create or extend door-knock tasks; returns (assignee, occasion) → task id."""
    grouped: dict[tuple[str | None, str], tuple[str, set[str]]] = {}
    for join in joins:
        task, grids = grouped.setdefault((join.assignee_id, join.occasion), (join.task, set()))
        grids.update(join.grid_codes)
    ids = {}
    for (assignee_id, occasion), (task, grids) in grouped.items():
        row = (
            await conn.execute(
                select(tasks.c.id, tasks.c.grid_codes).where(
                    tasks.c.warning_id == warning_id,
                    tasks.c.assignee_id.is_(None)
                    if assignee_id is None
                    else tasks.c.assignee_id == assignee_id,
                    tasks.c.occasion == occasion,
                )
            )
        ).one_or_none()
        if row is None:
            created = await conn.execute(
                insert(tasks)
                .values(
                    warning_id=warning_id,
                    kind=task,
                    assignee_id=assignee_id,
                    occasion=occasion,
                    grid_codes=sorted(grids),
                    status="open",
                    created_at=now,
                )
                .returning(tasks.c.id)
            )
            ids[(assignee_id, occasion)] = int(created.scalar_one())
        else:
            merged = sorted(set(row.grid_codes) | grids)
            if merged != sorted(row.grid_codes):
                await conn.execute(
                    update(tasks).where(tasks.c.id == row.id).values(grid_codes=merged)
                )
            ids[(assignee_id, occasion)] = int(row.id)
    return ids


async def join_summons(
    conn: AsyncConnection,
    warning_id: str,
    joins: Sequence[SummonsJoin],
    task_ids: dict[tuple[str | None, str], int],
    *,
    now: datetime,
    gather_until: datetime,
) -> None:
    """Add each join to the open summons of its (target, kind, occasion), opening one if needed."""
    opened: dict[tuple[str, str, str], int] = {}
    for join in joins:
        key = (join.target_id, join.kind.value, join.occasion)
        summons_id = opened.get(key)
        if summons_id is None:
            summons_id = opened[key] = await _open_summons(
                conn, warning_id, join, task_ids, now=now, gather_until=gather_until
            )
        if join.member_id is not None:
            await conn.execute(
                update(escalations)
                .where(
                    escalations.c.recipient_id == join.member_id,
                    escalations.c.occasion == join.occasion,
                )
                .values(summons_id=summons_id)
            )


async def _open_summons(
    conn: AsyncConnection,
    warning_id: str,
    join: SummonsJoin,
    task_ids: dict[tuple[str | None, str], int],
    *,
    now: datetime,
    gather_until: datetime,
) -> int:
    same = (
        summons.c.warning_id == warning_id,
        summons.c.person_id == join.target_id,
        summons.c.kind == join.kind.value,
        summons.c.occasion == join.occasion,
    )
    task_id = task_ids.get((join.target_id, join.task_occasion)) if join.task_occasion else None
    # Another replica may open the same summons at the same moment: the unique key makes
    # one insert win, and the other joins what it opened (or opens the next batch when
    # that one has already gone out).
    for _ in range(_OPEN_TRIES):
        gathering = await conn.execute(
            select(summons.c.id).where(*same, summons.c.eta.is_not(None)).limit(1)
        )
        found = gathering.scalar_one_or_none()
        if found is not None:
            return int(found)
        batch = (await conn.execute(select(func.count()).where(*same))).scalar_one()
        created = await conn.execute(
            upsert(conn, summons)
            .values(
                warning_id=warning_id,
                person_id=join.target_id,
                kind=join.kind.value,
                occasion=join.occasion,
                channels=list(join.channels),
                batch=batch,
                eta=gather_until,
                created_at=now,
                task_id=task_id,
            )
            .on_conflict_do_nothing(
                index_elements=["warning_id", "person_id", "kind", "occasion", "batch"]
            )
            .returning(summons.c.id)
        )
        opened = created.scalar_one_or_none()
        if opened is not None:
            return int(opened)
    raise RuntimeError(f"could not open a summons for {join.target_id} ({join.occasion})")


async def claim_due_summons(conn: AsyncConnection, now: datetime, limit: int) -> list[DueSummons]:
    rows = await conn.execute(
        select(summons)
        .where(summons.c.eta <= now)
        .order_by(summons.c.eta)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        DueSummons(
            id=row.id,
            warning_id=row.warning_id,
            person_id=row.person_id,
            kind=row.kind,
            occasion=row.occasion,
            channels=tuple(row.channels),
            task_id=row.task_id,
        )
        for row in rows
    ]


async def members_of(conn: AsyncConnection, summons_id: int) -> list[Member]:
    rows = await conn.execute(
        select(
            recipients.c.id,
            recipients.c.person_id,
            recipients.c.grid_codes,
            recipients.c.answered_at,
            recipients.c.state,
        )
        .join(escalations, escalations.c.recipient_id == recipients.c.id)
        .where(escalations.c.summons_id == summons_id)
        .order_by(recipients.c.person_id)
    )
    return [
        Member(row.id, row.person_id, tuple(row.grid_codes), row.state == RecipientState.ANSWERED)
        for row in rows
    ]


async def task_grids(conn: AsyncConnection, task_id: int) -> tuple[str, ...]:
    row = await conn.execute(select(tasks.c.grid_codes).where(tasks.c.id == task_id))
    return tuple(row.scalar_one())


async def close_summons(conn: AsyncConnection, summons_id: int) -> None:
    await conn.execute(update(summons).where(summons.c.id == summons_id).values(eta=None))


async def zone_silenced(conn: AsyncConnection, warning_id: str, zone_id: str) -> bool:
    """True when the zone's plays for the warning have all failed for good (none played,
    none still on its way) and no gong task was opened for it yet."""
    statuses = (
        await conn.execute(
            select(attempts.c.status).where(
                attempts.c.warning_id == warning_id, attempts.c.zone_id == zone_id
            )
        )
    ).scalars()
    if not all(status in ("failed", "rejected") for status in statuses):
        return False
    opened = await conn.execute(
        select(tasks.c.id).where(
            tasks.c.warning_id == warning_id,
            tasks.c.kind == "gong",
            tasks.c.occasion == zone_task_occasion(zone_id),
        )
    )
    return opened.first() is None


async def zone_of_attempt(conn: AsyncConnection, attempt_id: int) -> str | None:
    row = await conn.execute(select(attempts.c.zone_id).where(attempts.c.id == attempt_id))
    return row.scalar_one_or_none()


async def zones_of_attempts(
    conn: AsyncConnection, attempt_ids: Sequence[int]
) -> list[tuple[str, str]]:
    """(warning id, zone id) of each broadcast send among `attempt_ids`, once each."""
    rows = await conn.execute(
        select(attempts.c.warning_id, attempts.c.zone_id)
        .where(attempts.c.id.in_(attempt_ids), attempts.c.zone_id.is_not(None))
        .distinct()
    )
    return [(row.warning_id, row.zone_id) for row in rows]
