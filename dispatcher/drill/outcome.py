"""What a drill's records say, per township: grids answered in time, escalated, sent a
door-knock, settled within the policy's time; and the persons never reached, with why.

Read from the run's own database after the drill, the way the duty officer's report is:
nothing here is counted by the simulation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.machine import occasion_step
from dispatcher.core.model import Level
from dispatcher.core.phones import mask_phone
from dispatcher.core.policy import GridAnswer
from dispatcher.core.roster import Roster
from dispatcher.store.place_views import TOWNSHIP_DIGITS, area_names, place_names
from dispatcher.store.policies import level_policy as stored_policy
from dispatcher.store.roster_versions import read_roster
from dispatcher.store.schema import answers, attempts, escalations, recipients, tasks, warnings

OWN_ANSWERS = ("sms", "voice", "link", "operator")  # the person answered, nobody for them
SLACK = timedelta(minutes=1)  # the scheduler's turn after a step falls due, in drill time
_WHY = {
    "invalid_address": "空号 wrong number",
    "unreachable": "关机/无法接通 switched off or unreachable",
    "unsubscribed": "拒收 refused the sender",
    "voicemail": "语音信箱 voicemail",
    "server_error": "通道故障 the channel failed",
}


@dataclass
class Township:
    code: str
    name: str | None
    grids: int = 0
    answered_in_time: int = 0
    escalated: int = 0
    door_knock: int = 0
    settled_in_time: int = 0
    never_reached: int = 0


async def drill_outcome(conn: AsyncConnection, warning_id: str) -> dict[str, Any]:
    """The drill's figures, as plain data (`--json` prints it as it is)."""
    warning = (await conn.execute(select(warnings).where(warnings.c.id == warning_id))).one()
    roster = await read_roster(conn, warning.roster_id)
    if roster is None:
        raise LookupError(f"the roster of warning {warning_id} is not in the store")
    # The policy frozen with the warning at ingest: the promise the drill is held to.
    level_policy = stored_policy(warning_id, Level(warning.level), warning.policy)
    sent: datetime = warning.sent
    answer_by = sent + level_policy.answer_within
    settle_by = sent + level_policy.steps[-1].after + SLACK
    people = (
        await conn.execute(select(recipients).where(recipients.c.warning_id == warning_id))
    ).all()
    own = await _own_answers(conn, warning_id)
    delivered, why = await _reach(conn, warning_id)
    escalated: dict[tuple[int, str], datetime] = {
        (row.recipient_id, row.occasion): row.created_at
        for row in await conn.execute(
            select(
                escalations.c.recipient_id, escalations.c.occasion, escalations.c.created_at
            ).where(escalations.c.warning_id == warning_id)
        )
    }
    escalated_ids = {recipient_id for recipient_id, _ in escalated}
    lag = step_lag(
        escalated, {step.index: step.after for step in level_policy.steps}, warning.clock_start
    )
    task_rows = (await conn.execute(select(tasks).where(tasks.c.warning_id == warning_id))).all()
    grids_of = {p.id: p.grid_codes for p in people}
    knocked = _knocked(task_rows, escalated, grids_of)
    by_grid: dict[str, list[Any]] = defaultdict(list)
    for person in people:
        for code in person.grid_codes:
            by_grid[code].append(person)
    any_answers = level_policy.grid_answer is GridAnswer.ANY
    names = {
        p["code"]: p["name"]
        for p in place_names(roster, by_grid, await area_names(conn, warning_id))
    }
    townships: dict[str, Township] = {}
    settled_times: list[datetime] = []
    never = [p for p in people if p.id not in own and p.id not in delivered]
    for code, persons in sorted(by_grid.items()):
        town_code = code[:TOWNSHIP_DIGITS]
        town = townships.setdefault(town_code, Township(town_code, names.get(town_code)))
        town.grids += 1
        times = [p.answered_at for p in persons]
        done = [t for t in times if t is not None]
        answered_at = min(done, default=None) if any_answers else None
        if not any_answers and len(done) == len(times):
            answered_at = max(done)
        if answered_at is not None and answered_at <= answer_by:
            town.answered_in_time += 1
        town.escalated += any(p.id in escalated_ids for p in persons)
        town.door_knock += code in knocked
        settled = min((t for t in (answered_at, knocked.get(code)) if t is not None), default=None)
        if settled is not None:
            settled_times.append(settled)
            town.settled_in_time += settled <= settle_by
        town.never_reached += sum(1 for p in persons if p in never)
    return {
        "warning_id": warning_id,
        "event": warning.event,
        "level": warning.level,
        "drill": warning.drill,
        "sent": sent.isoformat(),
        "answer_within_seconds": level_policy.answer_within.total_seconds(),
        "settle_within_seconds": (settle_by - sent).total_seconds(),
        "grids": len(by_grid),
        "grids_settled_in_time": sum(t.settled_in_time for t in townships.values()),
        "all_settled_after_seconds": (
            (max(settled_times) - sent).total_seconds()
            if len(settled_times) == len(by_grid) and settled_times
            else None
        ),
        "step_lag_seconds": lag,
        "persons": len(people),
        "answered": sum(1 for p in people if p.answered_at is not None),
        "answered_by": _answered_by(own),
        "townships": [vars(t) for t in townships.values()],
        "never_reached": [_never(roster, p, why.get(p.id)) for p in never],
        "tasks": [
            {
                "id": t.id,
                "kind": t.kind,
                "status": t.status,
                "grids": len(t.grid_codes),
                "assigned_after_seconds": (t.created_at - sent).total_seconds(),
                "reported_after_seconds": (
                    (t.reported_at - sent).total_seconds() if t.reported_at else None
                ),
            }
            for t in task_rows
        ],
    }


def step_lag(
    escalated: dict[tuple[int, str], datetime],
    after: dict[int, timedelta],
    clock_start: datetime,
) -> dict[str, float | int] | None:
    """How far behind the drill clock the service made the policy's escalations: each one
    against the moment its step fell due, in drill seconds (p50, p99, max, how many).

    A machine that cannot keep the drill's pace makes its escalations late, and grids miss
    the policy's time for that alone: the figure tells the county's failure from the
    machine's. None when nothing was escalated."""
    lags = sorted(
        max(0.0, (at - (clock_start + after[index])).total_seconds())
        for (_, occasion), at in escalated.items()
        if (index := occasion_step(occasion)) is not None and index in after
    )
    if not lags:
        return None
    return {
        "p50": lags[len(lags) // 2],
        "p99": lags[min(len(lags) - 1, (len(lags) * 99) // 100)],
        "max": lags[-1],
        "escalations": len(lags),
    }


def _knocked(
    task_rows: Sequence[Any],
    escalated: dict[tuple[int, str], datetime],
    grids_of: dict[int, list[str]],
) -> dict[str, datetime]:
    """When a door-knock was first under way for each grid: the moment its silent person
    joined a task (their escalation at the task's step is written with the join), not the
    task's creation, which a later grid joining the same task would inherit."""
    knocked: dict[str, datetime] = {}
    steps = {task.occasion for task in task_rows if task.kind == "door_knock"}
    for (recipient_id, occasion), at in escalated.items():
        if occasion in steps:
            for code in grids_of.get(recipient_id, ()):
                knocked[code] = min(knocked.get(code, at), at)
    for task in task_rows:  # a step that assigns a task without escalating
        if task.kind == "door_knock":
            for code in task.grid_codes:
                knocked.setdefault(code, task.created_at)
    return knocked


async def _own_answers(conn: AsyncConnection, warning_id: str) -> dict[int, str]:
    rows = await conn.execute(
        select(answers.c.recipient_id, answers.c.via)
        .where(answers.c.warning_id == warning_id, answers.c.via.in_(OWN_ANSWERS))
        .order_by(answers.c.at)
    )
    first: dict[int, str] = {}
    for row in rows:
        first.setdefault(row.recipient_id, row.via)
    return first


async def _reach(conn: AsyncConnection, warning_id: str) -> tuple[set[int], dict[int, str]]:
    """Recipients a notice of their own reached, and for the others the last reason."""
    delivered: set[int] = set()
    why: dict[int, str] = {}
    rows = await conn.execute(
        select(attempts.c.recipient_id, attempts.c.status, attempts.c.error_reason)
        .where(attempts.c.warning_id == warning_id, attempts.c.recipient_id.is_not(None))
        .order_by(attempts.c.id)
    )
    for row in rows:
        if row.status == "delivered":
            delivered.add(row.recipient_id)
        elif row.error_reason:
            why[row.recipient_id] = row.error_reason
    return delivered, why


def _answered_by(own: dict[int, str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for via in own.values():
        counts[via] += 1
    return dict(sorted(counts.items()))


def _never(roster: Roster, recipient: Any, reason: str | None) -> dict[str, Any]:
    person = roster.persons.get(recipient.person_id)
    return {
        "person_id": recipient.person_id,
        "name": person.name if person else None,
        "role": person.role if person else None,
        "phone": mask_phone(person.phone) if person and person.phone else None,
        "grids": list(recipient.grid_codes),
        "why": _WHY.get(reason or "", reason or "无应答 no answer, nothing delivered"),
        "answered_for_by": "door_knock" if recipient.answered_at is not None else None,
    }
