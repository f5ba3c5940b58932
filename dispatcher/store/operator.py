"""What an operator's manual answer needs from the store: who may be answered for, the
note that goes with the answer, and the answer as it now stands.

The answer itself is recorded by `Replies.answer_person` (the same path as every other
answer), so the scheduler hears of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.roster import Roster
from dispatcher.store.recipient_views import answer_view
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import answers, recipients, summons, warnings


@dataclass(frozen=True, slots=True)
class Answerable:
    """A person of a warning as an operator's answer finds them."""

    roster: Roster
    recipient_id: int | None  # None: not a recipient, only a supervisor summoned about some
    state: str | None
    chain_revision: int
    summoned: bool


async def answerable(
    conn: AsyncConnection, rosters: RosterVersions, warning_id: str, person_id: str
) -> Answerable | None:
    """The person as a recipient or summoned supervisor of the warning; None for an unknown
    warning. Neither a recipient nor summoned: `recipient_id` None and `summoned` False."""
    roster_id = (
        await conn.execute(select(warnings.c.roster_id).where(warnings.c.id == warning_id))
    ).scalar_one_or_none()
    if roster_id is None:
        return None
    row = (
        await conn.execute(
            select(recipients.c.id, recipients.c.state, recipients.c.chain_revision).where(
                recipients.c.warning_id == warning_id, recipients.c.person_id == person_id
            )
        )
    ).one_or_none()
    called = (
        await conn.execute(
            select(func.count()).where(
                summons.c.warning_id == warning_id,
                summons.c.person_id == person_id,
                summons.c.kind == "escalation",
            )
        )
    ).scalar_one()
    return Answerable(
        roster=await rosters.get(conn, roster_id),
        recipient_id=row.id if row else None,
        state=row.state if row else None,
        chain_revision=row.chain_revision if row else 0,
        summoned=bool(called),
    )


async def attach_note(conn: AsyncConnection, recipient_ids: Sequence[int], note: str) -> None:
    """Put the operator's note on the answers one entry just recorded (each recipient's
    newest answer; an answered chain takes no further answer to confuse it with)."""
    for recipient_id in recipient_ids:
        newest = select(func.max(answers.c.id)).where(answers.c.recipient_id == recipient_id)
        await conn.execute(
            update(answers)
            .where(answers.c.id == newest.scalar_subquery(), answers.c.detail.is_(None))
            .values(detail=note)
        )


async def persons_of(conn: AsyncConnection, recipient_ids: Sequence[int]) -> list[str]:
    if not recipient_ids:
        return []
    rows = await conn.execute(
        select(recipients.c.person_id).where(recipients.c.id.in_(recipient_ids))
    )
    return sorted(rows.scalars())


async def current_answer(
    conn: AsyncConnection, subject: Answerable
) -> tuple[str | None, dict[str, object] | None]:
    """The recipient's state now, and its answer to the current chain (if any)."""
    if subject.recipient_id is None:
        return None, None
    state = (
        await conn.execute(
            select(recipients.c.state).where(recipients.c.id == subject.recipient_id)
        )
    ).scalar_one()
    row = (
        await conn.execute(
            select(answers)
            .where(
                answers.c.recipient_id == subject.recipient_id,
                answers.c.chain_revision >= subject.chain_revision,
            )
            .order_by(answers.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return state, answer_view(row, subject.roster) if row else None
