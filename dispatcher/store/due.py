"""Claiming due timers, the most urgent first: the highest-level warnings' chains before
any of a lower level, an even share between warnings of one level (`core/priority`).

Claimed by eta alone, a red warning's chains published during a county-wide blue fan-out
were due after every blue one and waited for all of them. The warnings with timers are
found by a loose scan of `ix_timers_lane` (one index step per warning, not per timer);
each warning's due timers are then claimed from the same index, locked for this
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.priority import DueLane, rank_of, shares
from dispatcher.store.schema import UTCDateTime, summons, timers

_LANES = text(
    """
    WITH RECURSIVE lanes(warning_id) AS (
        SELECT (SELECT warning_id FROM timers ORDER BY warning_id LIMIT 1)
        UNION ALL
        SELECT (SELECT t.warning_id FROM timers t WHERE t.warning_id > lanes.warning_id
                ORDER BY t.warning_id LIMIT 1)
        FROM lanes WHERE lanes.warning_id IS NOT NULL
    )
    SELECT w.id, w.level FROM lanes JOIN warnings w ON w.id = lanes.warning_id
    WHERE EXISTS (
        SELECT 1 FROM timers t WHERE t.warning_id = lanes.warning_id AND t.eta <= :now
    )
    ORDER BY w.received_at, w.id
    """
).bindparams(bindparam("now", type_=UTCDateTime))

_DUE_IN_LANE = (
    select(timers.c.recipient_id, timers.c.token)
    .where(
        timers.c.warning_id == bindparam("lane"),
        timers.c.eta <= bindparam("now"),
        # Taken by an earlier round of this claim (a transaction's own locks skip nothing).
        timers.c.recipient_id.not_in(bindparam("taken", expanding=True)),
    )
    .order_by(timers.c.eta, timers.c.recipient_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DUE_AT = union_all(select(timers.c.eta), select(summons.c.eta)).subquery()
_NEXT_DUE = select(func.min(_DUE_AT.c.eta))  # a summons already made has no eta: not counted


async def due_lanes(conn: AsyncConnection, now: datetime) -> list[DueLane]:
    """The warnings with a timer due at `now`, oldest first, with their level's rank."""
    rows = await conn.execute(_LANES, {"now": now})
    return [DueLane(row.id, rank_of(row.level)) for row in rows]


async def claim_due(
    conn: AsyncConnection, now: datetime, limit: int, *, turn: int = 0
) -> dict[int, int]:
    """Up to `limit` due timers, locked for this transaction, the most urgent first:
    recipient id → fencing token, in the order they should be decided (the highest level
    first, warnings of a level in turn: the scheduler may decide only the first few).
    `turn` rotates which warning of a level gets the odd place over."""
    lanes = await due_lanes(conn, now)
    first_lanes = list(lanes)
    claimed: dict[int, int] = {}
    taken: dict[str, list[int]] = {}
    while lanes and len(claimed) < limit:
        exhausted = set()
        for lane, share in shares(limit - len(claimed), lanes, turn).items():
            mine = taken.setdefault(lane, [])
            rows = (
                await conn.execute(
                    _DUE_IN_LANE, {"lane": lane, "now": now, "limit": share, "taken": mine}
                )
            ).all()
            claimed.update((row.recipient_id, row.token) for row in rows)
            mine.extend(row.recipient_id for row in rows)
            if len(rows) < share:
                exhausted.add(lane)
        lanes = [lane for lane in lanes if lane.warning_id not in exhausted]
    places = sorted(
        (-lane.rank, n, position, rid)
        for position, lane in enumerate(first_lanes)
        for n, rid in enumerate(taken.get(lane.warning_id, ()))
    )
    return {rid: claimed[rid] for *_, rid in places}


async def next_due(conn: AsyncConnection) -> datetime | None:
    """When the earliest timer or summons is due (None when nothing is waiting)."""
    eta: datetime | None = (await conn.execute(_NEXT_DUE)).scalar()
    return eta
