"""Read-only views of recipients: one warning's persons (the 未叫醒名单 is its silent
filter), and one grid's persons across the active warnings.

Names, roles and grids come from the roster snapshot the warning was planned with, so a
roster replaced mid-warning does not rename anyone. Phone numbers leave here masked only,
and provider error texts and SMS notes are masked too: a provider may quote the number.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.machine import OPEN_STATES, RecipientState
from dispatcher.core.phones import mask_phone, mask_phones_in_text
from dispatcher.core.roster import Person, Roster
from dispatcher.store.queries import active_warning
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import answers, attempts, escalations, recipients, timers, warnings

# The states of a chain still waiting for an answer: the silent persons.


def has_grid(column: Any, code: str, *, prefix: bool = False) -> ColumnElement[bool]:
    """The JSON list `column` holds `code` (or, with `prefix`, a code starting with it).

    A LIKE on the stored JSON text works the same on SQLite and PostgreSQL: every element
    is written as a JSON string, so `"441523` can only match the start of an element.
    The needle is encoded as the store's JSON serialiser (`json.dumps`) encodes elements.
    """
    quoted = json.dumps(code)
    needle = quoted[:-1] if prefix else quoted
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, Text).like(f"%{escaped}%", escape="\\")


def person_view(person: Person | None, person_id: str) -> dict[str, Any]:
    """Who a person is, for display: never the full phone number or the WeChat openid."""
    return {
        "person_id": person_id,
        "name": person.name if person else None,
        "role": person.role if person else None,
        "phone": mask_phone(person.phone) if person and person.phone else None,
        "wechat": bool(person and person.wechat_openid),
    }


def grids_view(roster: Roster, codes: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"code": code, "name": grid.name if (grid := roster.grids.get(code)) else None}
        for code in codes
    ]


async def list_recipients(
    conn: AsyncConnection,
    warning_id: str,
    rosters: RosterVersions,
    *,
    states: Collection[str] | None,
    grid: str | None,
    limit: int,
    after: int | None = None,
) -> tuple[list[dict[str, Any]], int | None] | None:
    """A page of the warning's recipients in plan order, and the last one's id when there
    may be more; None for an unknown warning."""
    roster_id = (
        await conn.execute(select(warnings.c.roster_id).where(warnings.c.id == warning_id))
    ).scalar_one_or_none()
    if roster_id is None:
        return None
    # The chain's timer: its next re-call or escalation, or after the last step the
    # warning's expiry, when the chain ends.
    query = (
        select(recipients, timers.c.eta.label("next_step_at"))
        .outerjoin(timers, timers.c.recipient_id == recipients.c.id)
        .where(recipients.c.warning_id == warning_id)
    )
    if states is not None:
        query = query.where(recipients.c.state.in_(sorted(states)))
    if grid is not None:
        query = query.where(has_grid(recipients.c.grid_codes, grid, prefix=True))
    if after is not None:
        query = query.where(recipients.c.id > after)
    rows = (await conn.execute(query.order_by(recipients.c.id).limit(limit + 1))).all()
    page = rows[:limit]
    roster = await rosters.get(conn, roster_id)
    ids = [row.id for row in page]
    tried = await _attempts_of(conn, ids)
    escalated = await _escalations_of(conn, ids, roster)
    answered = await _answers_of(conn, ids, roster)
    items = []
    for row in page:
        chain, answer = answered.get(row.id, (0, None))
        if chain < row.chain_revision:
            answer = None  # it answered an earlier chain: a raised level asks again
        items.append(
            {
                **person_view(roster.persons.get(row.person_id), row.person_id),
                "channels": list(row.addresses),
                "grids": grids_view(roster, row.grid_codes),
                "state": row.state,
                "escalation": row.escalation,
                "first_notified_at": _iso(row.first_notified_at),
                "answered_at": _iso(row.answered_at),
                "next_step_at": _iso(row.next_step_at) if row.state in OPEN_STATES else None,
                "attempts": tried[row.id],
                "escalations": escalated[row.id],
                "answer": answer,
                "note": mask_phones_in_text(row.note) if row.note else None,
            }
        )
    return items, page[-1].id if len(rows) > limit else None


async def _attempts_of(conn: AsyncConnection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return found
    rows = await conn.execute(
        select(
            attempts.c.recipient_id,
            attempts.c.channel,
            attempts.c.kind,
            attempts.c.occasion,
            attempts.c.status,
            attempts.c.provider_id,
            attempts.c.error_reason,
            attempts.c.error_detail,
            attempts.c.created_at,
            attempts.c.updated_at,
        )
        .where(attempts.c.recipient_id.in_(ids))
        .order_by(attempts.c.id)
    )
    for row in rows:
        found[row.recipient_id].append(
            {
                "channel": row.channel,
                "kind": row.kind,
                "occasion": row.occasion,
                "status": row.status,
                "provider_id": row.provider_id,
                "error_reason": row.error_reason,
                "error_detail": mask_phones_in_text(row.error_detail) if row.error_detail else None,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
            }
        )
    return found


async def _escalations_of(
    conn: AsyncConnection, ids: list[int], roster: Roster
) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not ids:
        return found
    rows = await conn.execute(
        select(escalations)
        .where(escalations.c.recipient_id.in_(ids))
        .order_by(escalations.c.level, escalations.c.id)
    )
    for row in rows:
        found[row.recipient_id].append(
            {
                "level": row.level,
                "occasion": row.occasion,
                "target_id": row.target_id,
                "target_name": roster.name_of(row.target_id),
                "at": row.created_at.isoformat(),
            }
        )
    return found


async def _answers_of(
    conn: AsyncConnection, ids: list[int], roster: Roster
) -> dict[int, tuple[int, dict[str, Any]]]:
    """The latest answer of each recipient, with the chain revision it answered."""
    latest: dict[int, tuple[int, dict[str, Any]]] = {}
    if not ids:
        return latest
    rows = await conn.execute(
        select(answers).where(answers.c.recipient_id.in_(ids)).order_by(answers.c.id)
    )
    for row in rows:
        latest[row.recipient_id] = (row.chain_revision, answer_view(row, roster))
    return latest


def answer_view(row: Any, roster: Roster) -> dict[str, Any]:
    """One `answers` row for display; `by` is a person id, or an operator token's name."""
    return {
        "at": row.at.isoformat(),
        "via": row.via,
        "by": row.by,
        "by_name": roster.name_of(row.by),
        "how": row.how,
        "detail": mask_phones_in_text(row.detail) if row.detail else None,
    }


async def grid_status(
    conn: AsyncConnection, code: str, rosters: RosterVersions, now: datetime
) -> dict[str, Any] | None:
    """The grid's persons (current roster, and recipients of active warnings) and their
    state in each active warning that reaches the grid; None when neither knows the grid."""
    current = rosters.current
    covering = (
        await conn.execute(
            select(warnings)
            .where(
                active_warning(now),
                or_(
                    has_grid(warnings.c.grids, code),
                    warnings.c.id.in_(
                        select(recipients.c.warning_id).where(
                            has_grid(recipients.c.grid_codes, code)
                        )
                    ),
                ),
            )
            .order_by(warnings.c.received_at.desc(), warnings.c.id.desc())
        )
    ).all()
    rows = (
        await conn.execute(
            select(recipients)
            .where(
                recipients.c.warning_id.in_([w.id for w in covering]),
                has_grid(recipients.c.grid_codes, code),
            )
            .order_by(recipients.c.person_id, recipients.c.id)
        )
    ).all()
    grid = current.grids.get(code)
    if grid is None and not covering:
        return None
    snapshots = {w.id: await rosters.get(conn, w.roster_id) for w in covering}
    if grid is None:
        grid = next((r.grids[code] for r in snapshots.values() if code in r.grids), None)

    persons: dict[str, dict[str, Any]] = {}
    for person in current.persons_of_grid(code):
        persons[person.id] = {**person_view(person, person.id), "in_roster": True, "warnings": []}
    counts = {w.id: {state.value: 0 for state in RecipientState} for w in covering}
    for row in rows:
        counts[row.warning_id][row.state] += 1
        if row.person_id not in persons:
            planned = snapshots[row.warning_id].persons.get(row.person_id)
            persons[row.person_id] = {
                **person_view(planned, row.person_id),
                "in_roster": False,
                "warnings": [],
            }
        persons[row.person_id]["warnings"].append(
            {
                "warning_id": row.warning_id,
                "state": row.state,
                "escalation": row.escalation,
                "first_notified_at": _iso(row.first_notified_at),
                "answered_at": _iso(row.answered_at),
            }
        )
    return {
        "grid": {
            "code": code,
            "name": grid.name if grid else None,
            "parent_code": grid.parent_code if grid else None,
            "households": grid.households if grid else None,
            "population": grid.population if grid else None,
            "in_roster": code in current.grids,
        },
        "warnings": [
            {
                "id": w.id,
                "event": w.event,
                "headline": w.headline,
                "level": w.level,
                "drill": w.drill,
                "sent": w.sent.isoformat(),
                "states": counts[w.id],
            }
            for w in covering
        ],
        "persons": [persons[pid] for pid in sorted(persons)],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
