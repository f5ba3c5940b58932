"""Storing what arrives: a new warning and its dispatch plan, an Update or Cancel, a dead letter.

Each function runs inside the caller's write transaction, so "the warning and its plan are
committed" is one commit, after which the AMQP message may be acknowledged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, exists, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.lifecycle import Change, Ending, Lifecycle
from dispatcher.core.machine import RecipientState
from dispatcher.core.model import Level, Reference, Warning
from dispatcher.core.plan import PlannedRecipient
from dispatcher.store.schema import (
    UTCDateTime,
    audit,
    dead_letters,
    messages,
    recipients,
    timers,
    warnings,
)

DEAD_LETTER_EXCERPT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it arrived, for the `messages` table."""

    warning: Warning
    raw: bytes
    content_type: str
    source: str
    parsed: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chain:
    """A stored warning chain, as the ingest path needs it to fold in a follow-up."""

    warning_id: str
    lifecycle: Lifecycle
    roster_id: str
    policy: dict[str, Any]


def new_warning_id() -> str:
    return "w" + secrets.token_hex(6)


async def find_message(conn: AsyncConnection, key: tuple[str, str, datetime]) -> str | None:
    """The warning id a message with this (sender, identifier, sent) was stored under."""
    sender, identifier, sent = key
    row = await conn.execute(
        select(messages.c.warning_id).where(
            messages.c.sender == sender,
            messages.c.identifier == identifier,
            messages.c.sent == sent,
        )
    )
    return row.scalar_one_or_none()


async def find_chain(conn: AsyncConnection, references: Sequence[Reference]) -> Chain | None:
    """The chain any of `references` points at (CAP: sender, identifier, sent)."""
    if not references:
        return None
    matches = [
        and_(
            messages.c.sender == ref.sender,
            messages.c.identifier == ref.identifier,
            messages.c.sent == ref.sent,
        )
        for ref in references
    ]
    found = await conn.execute(select(messages.c.warning_id).where(or_(*matches)).limit(1))
    warning_id = found.scalar_one_or_none()
    if warning_id is None:
        return None
    row = (await conn.execute(select(warnings).where(warnings.c.id == warning_id))).one()
    lifecycle = Lifecycle(
        level=Level(row.level),
        clock_start=row.clock_start,
        expires=row.expires,
        drill=row.drill,
        revision=row.revision,
        chain_revision=row.chain_revision,
        change=Change(row.change),
        ending=Ending(row.ending) if row.ending else None,
    )
    return Chain(warning_id, lifecycle, row.roster_id, row.policy)


async def insert_chain(
    conn: AsyncConnection,
    warning_id: str,
    received: Received,
    lifecycle: Lifecycle,
    *,
    roster_id: str,
    policy: dict[str, Any],
    grids: Sequence[str],
    unmatched: Sequence[str],
    now: datetime,
) -> None:
    info = received.warning.primary
    await conn.execute(
        insert(warnings).values(
            id=warning_id,
            identifier=received.warning.identifier,
            sender=received.warning.sender,
            sent=received.warning.sent,
            received_at=now,
            event=info.event,
            headline=info.headline,
            level=lifecycle.level.value,
            drill=lifecycle.drill,
            clock_start=lifecycle.clock_start,
            expires=lifecycle.expires,
            revision=lifecycle.revision,
            chain_revision=lifecycle.chain_revision,
            change=lifecycle.change.value,
            ending=None,
            roster_id=roster_id,
            policy=policy,
            grids=list(grids),
            unmatched_areas=list(unmatched),
        )
    )
    await insert_message(conn, warning_id, received, lifecycle.revision, now)


async def insert_message(
    conn: AsyncConnection, warning_id: str, received: Received, revision: int, now: datetime
) -> None:
    warning = received.warning
    result = await conn.execute(
        insert(messages)
        .values(
            warning_id=warning_id,
            sender=warning.sender,
            identifier=warning.identifier,
            sent=warning.sent,
            msg_type=warning.msg_type.value,
            revision=revision,
            received_at=now,
            source=received.source,
            content_type=received.content_type,
            raw=received.raw,
            parsed=received.parsed,
        )
        .returning(messages.c.id)
    )
    message_id = result.scalar_one()
    if warning.infos:  # a Cancel may carry no text: notices keep speaking from the last one
        await conn.execute(
            update(warnings)
            .where(warnings.c.id == warning_id)
            .values(current_message_id=message_id)
        )


async def update_chain(
    conn: AsyncConnection, warning_id: str, warning: Warning, lifecycle: Lifecycle
) -> None:
    info = warning.primary if warning.infos else None
    values: dict[str, Any] = {
        "level": lifecycle.level.value,
        "drill": lifecycle.drill,
        "clock_start": lifecycle.clock_start,
        "expires": lifecycle.expires,
        "revision": lifecycle.revision,
        "chain_revision": lifecycle.chain_revision,
        "change": lifecycle.change.value,
        "ending": lifecycle.ending.value if lifecycle.ending else None,
    }
    if info is not None:
        values.update(event=info.event, headline=info.headline)
    await conn.execute(update(warnings).where(warnings.c.id == warning_id).values(**values))


async def add_recipients(
    conn: AsyncConnection,
    warning_id: str,
    planned: Sequence[PlannedRecipient],
    lifecycle: Lifecycle,
    eta: datetime,
) -> int:
    """Insert recipients not yet in the chain, each with a timer due at `eta`; returns how many."""
    existing = await conn.execute(
        select(recipients.c.person_id).where(recipients.c.warning_id == warning_id)
    )
    known = set(existing.scalars())
    rows = [
        {
            "warning_id": warning_id,
            "person_id": p.person_id,
            "grid_codes": list(p.grid_codes),
            "addresses": sorted(p.addresses),
            "state": RecipientState.PENDING.value,
            "cursor": 0,
            "escalation": 0,
            "revision": lifecycle.revision,
            "chain_revision": lifecycle.chain_revision,
        }
        for p in planned
        if p.person_id not in known
    ]
    if rows:
        await conn.execute(insert(recipients), rows)
        await wake_chain(conn, warning_id, eta)
    return len(rows)


async def wake_chain(conn: AsyncConnection, warning_id: str, eta: datetime) -> None:
    """Make every recipient of the chain due at `eta` (new ones get their first timer)."""
    of_chain = select(recipients.c.id).where(recipients.c.warning_id == warning_id)
    await conn.execute(
        update(timers)
        .where(timers.c.recipient_id.in_(of_chain))
        .values(eta=eta, token=timers.c.token + 1)
    )
    missing = (
        select(
            recipients.c.id, recipients.c.warning_id, literal(eta, UTCDateTime), literal(0, Integer)
        )
        .where(recipients.c.warning_id == warning_id)
        .where(~exists().where(timers.c.recipient_id == recipients.c.id))
    )
    await conn.execute(
        insert(timers).from_select(["recipient_id", "warning_id", "eta", "token"], missing)
    )


async def record_audit(
    conn: AsyncConnection,
    event: str,
    *,
    now: datetime,
    actor: str = "jiaoying",
    warning_id: str | None = None,
    recipient_id: int | None = None,
    **detail: Any,
) -> None:
    row = audit_row(
        event, now=now, actor=actor, warning_id=warning_id, recipient_id=recipient_id, **detail
    )
    await conn.execute(insert(audit), [row])


def audit_row(
    event: str,
    *,
    now: datetime,
    actor: str = "jiaoying",
    warning_id: str | None = None,
    recipient_id: int | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """An audit log row: what happened, when, by whom, about what."""
    return {
        "at": now,
        "warning_id": warning_id,
        "recipient_id": recipient_id,
        "event": event,
        "actor": actor,
        "detail": detail,
    }


async def record_dead_letter(
    conn: AsyncConnection,
    *,
    now: datetime,
    source: str,
    content_type: str,
    body: bytes,
    reason: str,
    path: str,
    key: tuple[str, str] | None = None,
    warning_id: str | None = None,
) -> int:
    result = await conn.execute(
        insert(dead_letters)
        .values(
            received_at=now,
            source=source,
            content_type=content_type[:64],
            reason=_storable(reason),
            path=_storable(path)[:255],
            size=len(body),
            excerpt=body[:DEAD_LETTER_EXCERPT],
            sender=key[0][:255] if key else None,
            identifier=key[1][:255] if key else None,
            warning_id=warning_id,
        )
        .returning(dead_letters.c.id)
    )
    return int(result.scalar_one())


def _storable(text: str) -> str:
    """`text` as PostgreSQL's text can hold it: a NUL or half a surrogate pair escaped."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
