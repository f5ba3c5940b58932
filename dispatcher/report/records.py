"""A warning's own records, read once for its report: the warning, its recipients, every
send, answer, escalation and field task. Nothing here judges them (`figures` does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.schema import answers, attempts, escalations, recipients, tasks, warnings


@dataclass(frozen=True, slots=True)
class WarningRecord:
    id: str
    identifier: str
    sender: str
    event: str
    headline: str
    level: str
    drill: bool
    clock_start: datetime
    expires: datetime | None
    ending: str | None
    closed_at: datetime | None
    roster_id: str
    policy: Any
    grids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecipientRecord:
    id: int
    person_id: str
    grid_codes: tuple[str, ...]
    state: str
    escalation: int
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class SendRecord:
    recipient_id: int | None
    person_id: str | None
    zone_id: str | None
    channel: str
    kind: str
    status: str
    error_reason: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    recipient_id: int
    at: datetime
    via: str
    by: str


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    recipient_id: int
    level: int
    target_id: str | None
    created_at: datetime
    occasion: str = ""  # the policy step that made it: `c<chain>s<step index>`


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: int
    kind: str
    assignee_id: str | None
    grid_codes: tuple[str, ...]
    status: str
    created_at: datetime
    reported_at: datetime | None
    report: dict[str, Any] | None
    occasion: str = ""


@dataclass(frozen=True, slots=True)
class Records:
    warning: WarningRecord
    recipients: tuple[RecipientRecord, ...]
    sends: tuple[SendRecord, ...]
    answers: tuple[AnswerRecord, ...]
    escalations: tuple[EscalationRecord, ...]
    tasks: tuple[TaskRecord, ...]


async def read_records(
    conn: AsyncConnection, warning_id: str, *, sends: bool = True
) -> Records | None:
    """Everything the report of `warning_id` is made from; None for an unknown warning.
    Without `sends` (the map, polled every second: its states need none), no sends are
    read, the largest table of a warning."""
    row = (await conn.execute(select(warnings).where(warnings.c.id == warning_id))).one_or_none()
    if row is None:
        return None
    warning = WarningRecord(
        id=row.id,
        identifier=row.identifier,
        sender=row.sender,
        event=row.event,
        headline=row.headline,
        level=row.level,
        drill=bool(row.drill),
        clock_start=row.clock_start,
        expires=row.expires,
        ending=row.ending,
        closed_at=row.closed_at,
        roster_id=row.roster_id,
        policy=row.policy,
        grids=tuple(row.grids),
    )
    of_warning = recipients.c.warning_id == warning_id
    return Records(
        warning=warning,
        recipients=tuple(
            RecipientRecord(
                r.id, r.person_id, tuple(r.grid_codes), r.state, r.escalation, r.answered_at
            )
            for r in await conn.execute(
                select(recipients).where(of_warning).order_by(recipients.c.id)
            )
        ),
        sends=await _sends(conn, warning_id) if sends else (),
        answers=tuple(
            AnswerRecord(a.recipient_id, a.at, a.via, a.by)
            for a in await conn.execute(
                select(answers).where(answers.c.warning_id == warning_id).order_by(answers.c.id)
            )
        ),
        escalations=tuple(
            EscalationRecord(e.recipient_id, e.level, e.target_id, e.created_at, e.occasion)
            for e in await conn.execute(
                select(escalations)
                .where(escalations.c.warning_id == warning_id)
                .order_by(escalations.c.id)
            )
        ),
        tasks=tuple(
            TaskRecord(
                t.id,
                t.kind,
                t.assignee_id,
                tuple(t.grid_codes),
                t.status,
                t.created_at,
                t.reported_at,
                t.report,
                t.occasion,
            )
            for t in await conn.execute(
                select(tasks).where(tasks.c.warning_id == warning_id).order_by(tasks.c.id)
            )
        ),
    )


async def _sends(conn: AsyncConnection, warning_id: str) -> tuple[SendRecord, ...]:
    return tuple(
        SendRecord(
            s.recipient_id,
            s.person_id,
            s.zone_id,
            s.channel,
            s.kind,
            s.status,
            s.error_reason,
            s.created_at,
        )
        for s in await conn.execute(
            # Not the rendered payload: the largest column of the largest table.
            select(
                attempts.c.recipient_id,
                attempts.c.person_id,
                attempts.c.zone_id,
                attempts.c.channel,
                attempts.c.kind,
                attempts.c.status,
                attempts.c.error_reason,
                attempts.c.created_at,
            )
            .where(attempts.c.warning_id == warning_id)
            .order_by(attempts.c.id)
        )
    )
