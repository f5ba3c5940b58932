"""Housekeeping that keeps the guarantees across crashes and replicas.

- a heartbeat row per running process, so others can tell a dead one;
- `recover`: sends claimed by a process that died are made again (possible duplicates,
  counted in `attempts.resends`), so nobody goes unreached after a crash;
- `close_finished`: a warning whose every chain has ended gets its closing summary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.model import Level
from dispatcher.engine.notices import notice_from_data
from dispatcher.engine.sender import Order, Sender
from dispatcher.store.chains import upsert
from dispatcher.store.db import Database
from dispatcher.store.outbox import enqueue_event
from dispatcher.store.schema import (
    attempts,
    instances,
    recipients,
    summons,
    tasks,
    timers,
    warnings,
)

log = structlog.get_logger("jiaoying.maintenance")


class Maintenance:
    def __init__(
        self,
        db: Database,
        sender: Sender,
        clock: Callable[[], datetime],
        *,
        owner: str,
        stale_after: timedelta = timedelta(seconds=10),
        batch: int = 500,
    ) -> None:
        self._db = db
        self._sender = sender
        self._clock = clock
        self._owner = owner
        self._stale_after = stale_after
        self._batch = batch
        self._started = clock()

    async def beat(self) -> None:
        """Record that this process is alive."""
        now = self._clock()
        async with self._db.writer.begin() as conn:
            statement = upsert(conn, instances)
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["id"], set_={"heartbeat_at": statement.excluded.heartbeat_at}
                ),
                [{"id": self._owner, "started_at": self._started, "heartbeat_at": now}],
            )

    async def leave(self) -> None:
        """Remove this process's heartbeat at a clean shutdown (its claims were drained)."""
        async with self._db.writer.begin() as conn:
            await conn.execute(delete(instances).where(instances.c.id == self._owner))

    async def recover(self) -> int:
        """Take over the claimed, unfinished sends of dead processes and make them again."""
        now = self._clock()
        live = select(instances.c.id).where(instances.c.heartbeat_at >= now - self._stale_after)
        async with self._db.writer.begin() as conn:
            rows = (
                await conn.execute(
                    select(attempts.c.id, attempts.c.recipient_id, attempts.c.payload)
                    .where(attempts.c.status == "claimed")
                    .where((attempts.c.owner.is_(None)) | (attempts.c.owner.not_in(live)))
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await conn.execute(
                update(attempts)
                .where(attempts.c.id.in_([row.id for row in rows]))
                .values(owner=self._owner, resends=attempts.c.resends + 1, updated_at=now)
            )
        log.warning("resending sends a dead process had claimed", count=len(rows))
        await self._sender.submit(
            [Order(row.id, notice_from_data(row.payload), row.recipient_id) for row in rows]
        )
        return len(rows)

    async def close_finished(self) -> int:
        """Publish the closing summary of warnings with no timer and no pending summons left."""
        now = self._clock()
        async with self._db.writer.begin() as conn:
            has_timer = (
                exists()
                .where(timers.c.recipient_id == recipients.c.id)
                .where(recipients.c.warning_id == warnings.c.id)
            )
            has_summons = (
                exists()
                .where(summons.c.warning_id == warnings.c.id)
                .where(summons.c.eta.is_not(None))
            )
            rows = (
                await conn.execute(
                    select(warnings.c.id, warnings.c.level, warnings.c.drill, warnings.c.identifier)
                    .where(warnings.c.closed_at.is_(None), ~has_timer, ~has_summons)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                counts = await _state_counts(conn, row.id)
                await conn.execute(
                    update(warnings).where(warnings.c.id == row.id).values(closed_at=now)
                )
                await enqueue_event(
                    conn,
                    "summary",
                    Level(row.level),
                    now=now,
                    body={
                        "warning_id": row.id,
                        "identifier": row.identifier,
                        "drill": row.drill,
                        "reason": "closed",
                        "states": counts,
                    },
                )
        return len(rows)


async def gauges(db: Database) -> tuple[int, int]:
    """(open door-knock tasks, recipients whose chain still has a step to come)."""
    async with db.reader.connect() as conn:
        open_tasks = (
            await conn.execute(select(func.count()).where(tasks.c.status == "open"))
        ).scalar_one()
        waiting = (await conn.execute(select(func.count()).select_from(timers))).scalar_one()
    return int(open_tasks), int(waiting)


async def _state_counts(conn: AsyncConnection, warning_id: str) -> dict[str, int]:
    rows = await conn.execute(
        select(recipients.c.state, func.count())
        .where(recipients.c.warning_id == warning_id)
        .group_by(recipients.c.state)
    )
    return {state: int(count) for state, count in rows.all()}
