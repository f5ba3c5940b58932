"""Recording answers (应): a person's own, a supervisor's for the silent persons they were
called about, a door-knock report for the grids it covers.

Every answer names who gave it and how; each one closes exactly the chains it may close
(DESIGN.md: one grid person's answer does not silence a colleague, unless the level's
policy says `grid_answer: any`). Answered chains are woken so the machine ends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.model import Level
from dispatcher.policy import GridAnswer, policy_from_data
from dispatcher.store.chains import lock_chains, wake_recipients
from dispatcher.store.intake import record_audit
from dispatcher.store.outbox import enqueue_event
from dispatcher.store.schema import answers, escalations, recipients, summons, tasks, warnings

OPEN_STATES = ("pending", "notified", "delivered", "unreachable")


@dataclass(frozen=True, slots=True)
class Closed:
    """The chains one answer closed: how each was answered, and how long after `sent`."""

    warning_id: str
    recipient_ids: tuple[int, ...]
    vias: tuple[str, ...] = ()
    level: str = ""
    seconds_after_sent: float = 0.0


async def record_answer(
    conn: AsyncConnection,
    *,
    warning_id: str,
    person_id: str,
    via: str,
    by: str,
    at: datetime,
    how: str | None = None,
    detail: str | None = None,
) -> Closed:
    """Record that `person_id` answered warning `warning_id`.

    Closes their own chain, and, when they are a supervisor who was called about silent
    persons, those persons' chains too ("their answer closes all of them").
    """
    own = await _open_recipients(
        conn, (recipients.c.warning_id == warning_id, recipients.c.person_id == person_id)
    )
    summoned = select(escalations.c.recipient_id).where(
        escalations.c.warning_id == warning_id,
        escalations.c.target_id == person_id,
        escalations.c.summons_id.in_(select(summons.c.id).where(summons.c.eta.is_(None))),
    )
    # By id only: an escalation row is of its recipient's warning, and with the warning
    # in the condition SQLite walked every recipient of the warning for each answer.
    covered = await _open_recipients(conn, (recipients.c.id.in_(summoned),))
    await conn.execute(
        update(summons)
        .where(
            summons.c.warning_id == warning_id,
            summons.c.person_id == person_id,
            summons.c.eta.is_(None),
            summons.c.answered_at.is_(None),
        )
        .values(answered_at=at)
    )
    rows = [(rid, chain, via, by) for rid, chain in own]
    rows += [
        (rid, chain, "supervisor", person_id) for rid, chain in covered if rid not in dict(own)
    ]
    if own:
        rows += await _grid_colleagues(conn, warning_id, [rid for rid, _ in own], person_id)
    return await _close(conn, warning_id, rows, at=at, how=how, detail=detail, actor=by)


async def report_task(
    conn: AsyncConnection, task_id: int, report: dict[str, Any], *, by: str, at: datetime
) -> Closed | None:
    """Close a door-knock task with its report; it answers for every silent person of its
    grids. Returns None for an unknown task; reporting twice changes nothing."""
    task = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one_or_none()
    if task is None:
        return None
    if task.status == "done":
        return Closed(task.warning_id, ())
    await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(status="done", reported_at=at, report=report)
    )
    grids = set(task.grid_codes)
    candidates = await conn.execute(
        select(recipients.c.id, recipients.c.chain_revision, recipients.c.grid_codes).where(
            recipients.c.warning_id == task.warning_id, recipients.c.state.in_(OPEN_STATES)
        )
    )
    rows = [
        (row.id, row.chain_revision, "door_knock", by)
        for row in candidates
        if grids & set(row.grid_codes)
    ]
    return await _close(conn, task.warning_id, rows, at=at, how="door_knock", detail=None, actor=by)


async def _open_recipients(conn: AsyncConnection, where: Sequence[Any]) -> list[tuple[int, int]]:
    """The open recipients `where` selects, with their chain revisions, locked for this
    transaction."""
    found = await _open_chains(conn, *where)
    ids = [rid for rid, _ in found]
    if not found or not await lock_chains(conn, ids):
        return found
    # Read again under the locks: another replica may have moved a chain meanwhile.
    return await _open_chains(conn, recipients.c.id.in_(ids))


async def _open_chains(conn: AsyncConnection, *where: Any) -> list[tuple[int, int]]:
    rows = await conn.execute(
        select(recipients.c.id, recipients.c.chain_revision).where(
            *where, recipients.c.state.in_(OPEN_STATES)
        )
    )
    return [(row.id, row.chain_revision) for row in rows]


async def _grid_colleagues(
    conn: AsyncConnection, warning_id: str, answered_ids: list[int], person_id: str
) -> list[tuple[int, int, str, str]]:
    """Under `grid_answer: any`, the colleagues whose every grid now has an answer."""
    chain = (
        await conn.execute(
            select(warnings.c.policy, warnings.c.level).where(warnings.c.id == warning_id)
        )
    ).one()
    level = policy_from_data(chain.policy).for_level(Level(chain.level))
    if level.grid_answer is not GridAnswer.ANY:
        return []
    everyone = (
        await conn.execute(
            select(
                recipients.c.id,
                recipients.c.chain_revision,
                recipients.c.grid_codes,
                recipients.c.state,
            ).where(recipients.c.warning_id == warning_id)
        )
    ).all()
    covered = {
        code
        for row in everyone
        if row.state == "answered" or row.id in answered_ids
        for code in row.grid_codes
    }
    return [
        (row.id, row.chain_revision, "grid", person_id)
        for row in everyone
        if row.state in OPEN_STATES
        and row.id not in answered_ids
        and set(row.grid_codes) <= covered
    ]


async def _close(
    conn: AsyncConnection,
    warning_id: str,
    rows: list[tuple[int, int, str, str]],
    *,
    at: datetime,
    how: str | None,
    detail: str | None,
    actor: str,
) -> Closed:
    if not rows:
        return Closed(warning_id, ())
    await lock_chains(conn, [rid for rid, _, _, _ in rows])
    await conn.execute(
        insert(answers),
        [
            {
                "warning_id": warning_id,
                "recipient_id": rid,
                "at": at,
                "via": via,
                "by": by,
                "how": how,
                "chain_revision": chain,
                "detail": detail,
            }
            for rid, chain, via, by in rows
        ],
    )
    ids = [rid for rid, _, _, _ in rows]
    await conn.execute(
        update(recipients).where(recipients.c.id.in_(ids)).values(state="answered", answered_at=at)
    )
    await wake_recipients(conn, ids, at)
    chain = (
        await conn.execute(
            select(warnings.c.level, warnings.c.clock_start).where(warnings.c.id == warning_id)
        )
    ).one()
    level = chain.level
    for rid, _, via, by in rows:
        await enqueue_event(
            conn,
            "answered",
            Level(level),
            now=at,
            body={"warning_id": warning_id, "recipient_id": rid, "via": via, "by": by},
        )
    await record_audit(
        conn, "answered", now=at, actor=actor, warning_id=warning_id, recipients=ids, how=how
    )
    return Closed(
        warning_id,
        tuple(ids),
        vias=tuple(via for _, _, via, _ in rows),
        level=level,
        seconds_after_sent=max(0.0, (at - chain.clock_start).total_seconds()),
    )
