"""A loudspeaker zone silenced for good gets a gong task (鸣锣吹哨): when the last of its
plays for a warning has failed (a play report, or the platform refusing the play), its
village secretary is called and texted to sound the
gong and whistle over the zone's grids, as a door-knock assignee is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.effects import DOOR_KNOCK_CHANNELS, SummonsJoin, TaskJoin
from dispatcher.core.gong import GONG, village_secretary, zone_task_occasion
from dispatcher.core.machine import NoticeKind
from dispatcher.engine.roster_book import RosterBook
from dispatcher.store.escalations import (
    join_summons,
    join_tasks,
    zone_silenced,
    zones_of_attempts,
)
from dispatcher.store.schema import warnings


async def gong_for_silenced_zone(
    conn: AsyncConnection, rosters: RosterBook, warning_id: str, zone_id: str, now: datetime
) -> bool:
    """Open the zone's gong task and summon its secretary, once, if every play of the
    zone failed for good; whether it did."""
    if not await zone_silenced(conn, warning_id, zone_id):
        return False
    roster_id = (
        await conn.execute(select(warnings.c.roster_id).where(warnings.c.id == warning_id))
    ).scalar_one()
    roster = await rosters.get(conn, roster_id)
    zone = roster.zone(zone_id)
    grids = zone.grid_codes if zone is not None else ()
    secretary = village_secretary(roster, grids)
    occasion = zone_task_occasion(zone_id)
    assignee = secretary.id if secretary is not None else None
    task_ids = await join_tasks(conn, warning_id, [TaskJoin(assignee, GONG, occasion, grids)], now)
    if assignee is not None:
        summons = SummonsJoin(
            assignee, NoticeKind.GONG, occasion, DOOR_KNOCK_CHANNELS, task_occasion=occasion
        )
        await join_summons(conn, warning_id, [summons], task_ids, now=now, gather_until=now)
    return True


async def gong_for_failed_plays(
    conn: AsyncConnection, rosters: RosterBook, attempt_ids: list[int], now: datetime
) -> bool:
    """Plays that failed for good (refused when asked, or reported failed): each zone
    whose plays have now all failed gets its gong task; whether any did."""
    opened = False
    for warning_id, zone_id in await zones_of_attempts(conn, attempt_ids):
        opened |= await gong_for_silenced_zone(conn, rosters, warning_id, zone_id, now)
    return opened
