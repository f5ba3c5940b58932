"""What providers and people report back: the send a report names, answers, notes.

Delivery reports themselves are recorded in batches by `dispatcher.store.deliveries`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.machine import OPEN_STATES
from dispatcher.store.schema import attempts, escalations, recipients, summons, warnings


@dataclass(frozen=True, slots=True)
class SentNotice:
    """A stored send, as a report about it needs it."""

    id: int
    key: str
    warning_id: str
    recipient_id: int | None
    summons_id: int | None
    person_id: str | None
    channel: str
    kind: str
    status: str
    provider_id: str | None
    error_reason: str | None = None


async def find_attempt(
    conn: AsyncConnection, *, key: str | None = None, provider_id: str | None = None
) -> SentNotice | None:
    """The send with jiaoying's `key` (preferred) or the provider's id."""
    if key is None and provider_id is None:
        return None
    where = attempts.c.key == key if key is not None else attempts.c.provider_id == provider_id
    row = (await conn.execute(select(attempts).where(where).limit(1))).one_or_none()
    if row is None:
        return None
    return SentNotice(
        id=row.id,
        key=row.key,
        warning_id=row.warning_id,
        recipient_id=row.recipient_id,
        summons_id=row.summons_id,
        person_id=row.person_id,
        channel=row.channel,
        kind=row.kind,
        status=row.status,
        provider_id=row.provider_id,
        error_reason=row.error_reason,
    )


def summoned_about_silent(*columns: Any) -> Select[Any]:
    """`columns` of the escalation rows whose supervisor has been called (their summons
    went out) about a person who is still silent: what that supervisor's answer closes."""
    return (
        select(*columns)
        .join(recipients, recipients.c.id == escalations.c.recipient_id)
        .join(summons, summons.c.id == escalations.c.summons_id)
        .where(summons.c.eta.is_(None), recipients.c.state.in_(OPEN_STATES))
    )


def _open_warnings_query() -> Select[Any]:
    persons: BindParameter[Any] = bindparam("persons", expanding=True)
    own = select(recipients.c.person_id, recipients.c.warning_id).where(
        recipients.c.person_id.in_(persons), recipients.c.state.in_(OPEN_STATES)
    )
    summoned = summoned_about_silent(escalations.c.target_id, escalations.c.warning_id).where(
        escalations.c.target_id.in_(persons)
    )
    either = union(own, summoned).subquery()
    return (
        select(either.c.person_id, warnings.c.id)
        .join(warnings, warnings.c.id == either.c.warning_id)
        .where(warnings.c.ending.is_(None))
        .order_by(warnings.c.received_at, warnings.c.id)
    )


# Built once, the persons bound per call: building it (a union, a subquery, its cache key)
# cost more than running it, once per batch of SMS replies.
_OPEN_WARNINGS = _open_warnings_query()


async def open_warnings_of(
    conn: AsyncConnection, person_ids: Iterable[str]
) -> dict[str, list[str]]:
    """The warnings each person may answer now, oldest first: as a silent recipient, or as
    a supervisor who was called about silent persons who are still silent."""
    persons = sorted(set(person_ids))
    if not persons:
        return {}
    open_warnings: dict[str, list[str]] = {}
    for person_id, warning_id in await conn.execute(_OPEN_WARNINGS, {"persons": persons}):
        open_warnings.setdefault(person_id, []).append(warning_id)
    return open_warnings


async def add_note(
    conn: AsyncConnection, warning_id: str, person_id: str, text: str, at: datetime
) -> bool:
    """Keep a reply that is not an answer (e.g. "已转移群众20人") on the person's recipient."""
    row = (
        await conn.execute(
            select(recipients.c.id, recipients.c.note).where(
                recipients.c.warning_id == warning_id, recipients.c.person_id == person_id
            )
        )
    ).one_or_none()
    if row is None:
        return False
    line = f"{at.isoformat(timespec='seconds')} {text.strip()[:500]}"
    note = f"{row.note}\n{line}" if row.note else line
    await conn.execute(update(recipients).where(recipients.c.id == row.id).values(note=note))
    return True


@dataclass(frozen=True, slots=True)
class LinkSubject:
    """Who an answer link answers for, and about what."""

    warning_id: str
    person_id: str
    event: str
    headline: str
    drill: bool
    answered_at: datetime | None


async def link_subject(conn: AsyncConnection, kind: str, row_id: int) -> LinkSubject | None:
    """The warning and person of a recipient row ("r") or a summons row ("s")."""
    if kind == "r":
        row = (
            await conn.execute(
                select(
                    recipients.c.warning_id,
                    recipients.c.person_id,
                    recipients.c.answered_at,
                ).where(recipients.c.id == row_id)
            )
        ).one_or_none()
    else:
        row = (
            await conn.execute(
                select(
                    summons.c.warning_id,
                    summons.c.person_id,
                    summons.c.answered_at,
                ).where(summons.c.id == row_id)
            )
        ).one_or_none()
    if row is None:
        return None
    warning = (
        await conn.execute(
            select(warnings.c.event, warnings.c.headline, warnings.c.drill).where(
                warnings.c.id == row.warning_id
            )
        )
    ).one()
    return LinkSubject(
        warning_id=row.warning_id,
        person_id=row.person_id,
        event=warning.event,
        headline=warning.headline,
        drill=warning.drill,
        answered_at=row.answered_at,
    )
