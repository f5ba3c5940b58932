"""Read-only views of field tasks (敲门入户, 鸣锣吹哨), open ones first.

A task lists the silent persons its report would answer for right now, so whoever goes
door to door knows whose households to knock on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.gong import ZONE_OCCASION, is_zone_occasion, occasion_zone
from dispatcher.core.machine import OPEN_STATES
from dispatcher.core.roster import Roster
from dispatcher.store.queries import masked_report
from dispatcher.store.recipient_views import grids_view, person_view
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import recipients, tasks, warnings

# Sort key: open tasks (0) before done ones (1), each oldest first.
_RANK = case((tasks.c.status == "open", 0), else_=1)


async def list_tasks(
    conn: AsyncConnection,
    rosters: RosterVersions,
    *,
    warning_id: str | None,
    status: str | None,
    limit: int,
    after: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """A page of tasks, open first, and the sort key of the last when there may be more."""
    query = select(tasks, _RANK.label("rank"))
    if warning_id is not None:
        query = query.where(tasks.c.warning_id == warning_id)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if after is not None:
        query = query.where(tuple_(_RANK, tasks.c.id) > tuple_(*after))
    rows = (await conn.execute(query.order_by(_RANK, tasks.c.id).limit(limit + 1))).all()
    page = rows[:limit]
    items = await task_views(conn, rosters, page)
    last = page[-1] if len(rows) > limit else None
    return items, (int(last.rank), int(last.id)) if last is not None else None


async def task_kind(conn: AsyncConnection, task_id: int) -> str | None:
    """The kind of task `task_id` (door_knock, gong); None for no such task."""
    row = await conn.execute(select(tasks.c.kind).where(tasks.c.id == task_id))
    return row.scalar_one_or_none()


async def find_task(
    conn: AsyncConnection, rosters: RosterVersions, task_id: int
) -> dict[str, Any] | None:
    row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one_or_none()
    if row is None:
        return None
    return (await task_views(conn, rosters, [row]))[0]


async def task_views(
    conn: AsyncConnection, rosters: RosterVersions, rows: Sequence[Any]
) -> list[dict[str, Any]]:
    """`tasks` rows for display, named from their warnings' roster snapshots."""
    warning_ids = sorted({row.warning_id for row in rows})
    chains = {
        w.id: w
        for w in await conn.execute(
            select(
                warnings.c.id,
                warnings.c.event,
                warnings.c.level,
                warnings.c.drill,
                warnings.c.roster_id,
            ).where(warnings.c.id.in_(warning_ids))
        )
    }
    # Per warning and grid, its silent recipients in id order: a task then looks up its
    # own grids instead of scanning every silent person of a county (tasks × persons).
    silent: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for recipient in await conn.execute(
        select(
            recipients.c.id,
            recipients.c.warning_id,
            recipients.c.person_id,
            recipients.c.grid_codes,
        )
        .where(recipients.c.warning_id.in_(warning_ids), recipients.c.state.in_(OPEN_STATES))
        .order_by(recipients.c.id)
    ):
        for code in recipient.grid_codes:
            silent[(recipient.warning_id, code)].append(recipient)
    views = []
    for row in rows:
        chain = chains[row.warning_id]
        roster = await rosters.get(conn, chain.roster_id)
        assignee = roster.persons.get(row.assignee_id) if row.assignee_id else None
        found = {}
        if row.status == "open":
            for code in row.grid_codes:
                for r in silent.get((row.warning_id, code), ()):
                    found[r.id] = r
        still_silent = [
            {"person_id": r.person_id, "name": roster.name_of(r.person_id)}
            for _, r in sorted(found.items())
        ]
        views.append(
            {
                "id": row.id,
                "warning_id": row.warning_id,
                "warning": {"event": chain.event, "level": chain.level, "drill": chain.drill},
                "kind": row.kind,
                "status": row.status,
                "occasion": row.occasion,
                "assignee": person_view(assignee, row.assignee_id) if row.assignee_id else None,
                "grids": grids_view(roster, row.grid_codes),
                "zone": _zone_view(roster, row.occasion),
                "silent_persons": still_silent,
                "created_at": row.created_at.isoformat(),
                "reported_at": row.reported_at.isoformat() if row.reported_at else None,
                "report": masked_report(row.report),
            }
        )
    return views


def _zone_view(roster: Roster, occasion: str) -> dict[str, Any] | None:
    """The loudspeaker zone whose failed plays opened the task: where the gong stands in
    for the broadcast, named as the roster names it; None for any other task. A zone the
    roster no longer lists keeps what the occasion holds of its id, and no name."""
    if not is_zone_occasion(occasion):
        return None
    zone = occasion_zone(occasion, roster)
    if zone is None:
        return {"zone_id": occasion.removeprefix(ZONE_OCCASION), "name": None}
    return {"zone_id": zone.zone_id, "name": zone.name}
