"""What the answer page (`/a/{token}`) shows: the whole warning the SMS could only begin.

An SMS carries two parts at most, so its headline and instruction are often cut with
"…"; the page behind its link shows all of it — level, headline, the full instruction
and description, when it was issued and when it ends — and the grids the person answers
for, named from the roster the warning was planned with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.jsonform import warning_from_data
from dispatcher.core.model import Level
from dispatcher.store.queries import warning_status
from dispatcher.store.reports import LinkSubject, link_subject
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import escalations, messages, recipients, warnings


@dataclass(frozen=True, slots=True)
class WarningPage:
    """The warning as its answer page shows it to one person."""

    subject: LinkSubject
    level: Level
    status: str  # active, cancelled, cleared, expired or closed (`warning_status`)
    event: str
    headline: str
    instruction: str
    description: str
    sender_name: str
    sent: datetime
    expires: datetime | None
    grids: tuple[str, ...]  # the names of the person's grids in this warning
    summons: bool  # a supervisor's link: `grids` are those of the silent persons


async def warning_page(
    conn: AsyncConnection, kind: str, row_id: int, rosters: RosterVersions, now: datetime
) -> WarningPage | None:
    """The page of a recipient ("r") or summons ("s") link; None when the row is gone."""
    subject = await link_subject(conn, kind, row_id)
    if subject is None:
        return None
    row = (await conn.execute(select(warnings).where(warnings.c.id == subject.warning_id))).one()
    # The latest message that says something: a Cancel may carry no text of its own.
    info = None
    for (parsed,) in await conn.execute(
        select(messages.c.parsed)
        .where(messages.c.warning_id == subject.warning_id)
        .order_by(messages.c.id.desc())
    ):
        warning = warning_from_data(parsed)
        if warning.infos:
            info = warning.primary
            break
    roster = await rosters.get(conn, row.roster_id)
    codes = await _grid_codes(conn, kind, row_id)
    return WarningPage(
        subject=subject,
        level=Level(row.level),
        status=warning_status(row, now),
        event=info.event if info else row.event,
        headline=info.headline if info else row.headline,
        instruction=info.instruction if info else "",
        description=info.description if info else "",
        sender_name=info.sender_name if info else "",
        sent=row.sent,
        expires=row.expires,
        grids=tuple(roster.grids[code].name if code in roster.grids else code for code in codes),
        summons=kind == "s",
    )


async def _grid_codes(conn: AsyncConnection, kind: str, row_id: int) -> list[str]:
    """A recipient's own grids; for a supervisor's summons, the grids of the silent
    persons it was called about."""
    if kind == "r":
        query = select(recipients.c.grid_codes).where(recipients.c.id == row_id)
    else:
        query = (
            select(recipients.c.grid_codes)
            .join(escalations, escalations.c.recipient_id == recipients.c.id)
            .where(escalations.c.summons_id == row_id)
            .order_by(recipients.c.id)
        )
    codes: dict[str, None] = {}
    for (grid_codes,) in await conn.execute(query):
        codes.update(dict.fromkeys(grid_codes))
    return list(codes)
