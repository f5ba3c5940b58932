"""What an operator records of what happened off-line: a person's answer taken by phone,
radio or in person, and the report of a door-knock task (敲门入户).

Both are idempotent: repeating a request records nothing new and answers with what was
recorded the first time. The token's name (never the token) is kept as who entered it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from dispatcher.core.gong import GONG
from dispatcher.core.machine import ENDED_STATES
from dispatcher.http.api import (
    CLOCK,
    READER,
    api_route,
    body_of,
    choice_of,
    cursor_of,
    encode_cursor,
    json_ok,
    limit_of,
    text_of,
)
from dispatcher.http.auth import TOKEN_NAME
from dispatcher.http.keys import REPLIES, ROSTERS
from dispatcher.http.problems import problem
from dispatcher.store.operator import answerable, attach_note, current_answer, persons_of
from dispatcher.store.task_views import find_task, list_tasks, task_kind

NO_NUL = r"^[^\x00]*$"  # the store cannot keep a NUL character
MAX_ROW_ID = 2**63 - 1  # what a BIGINT key can hold; a larger number names no row


class How(StrEnum):
    """How the operator heard the person answer."""

    PHONE = "phone"
    RADIO = "radio"
    IN_PERSON = "in_person"
    WECHAT = "wechat"
    OTHER = "other"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class OperatorAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    person_id: StrictStr = Field(min_length=1, max_length=64, pattern=NO_NUL)
    how: How
    note: StrictStr | None = Field(default=None, max_length=500, pattern=NO_NUL)


class DoorKnockReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    households_reached: StrictInt = Field(ge=0, le=1_000_000)
    people_moved: StrictInt = Field(default=0, ge=0, le=1_000_000)
    note: StrictStr = Field(default="", max_length=1000, pattern=NO_NUL)


class GongReport(BaseModel):
    """鸣锣吹哨 done: when the gong was sounded (default: when reported) and how it went."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sounded_at: AwareDatetime | None = None
    note: StrictStr = Field(min_length=1, max_length=1000, pattern=NO_NUL)


@api_route
async def post_answer(request: web.Request) -> web.Response:
    """Record that a person answered, as the operator heard it.

    201 when this entry closed a chain (the person's own, or, for a supervisor who was
    called about silent persons, theirs); 200 when the person had already answered
    (nothing is recorded twice); 409 when their chain ended (cancelled, expired) unanswered.
    """
    warning_id = request.match_info["warning_id"]
    entry = await body_of(request, OperatorAnswer)
    rosters = request.app[ROSTERS]
    db = request.app[READER]
    async with db.reader.connect() as conn:
        subject = await answerable(conn, rosters, warning_id, entry.person_id)
    if subject is None:
        return problem(404, f"no warning with id {warning_id}")
    if subject.recipient_id is None and not subject.summoned:
        return problem(
            404, f"{entry.person_id} is neither a recipient of {warning_id} nor called about one"
        )
    closed = await request.app[REPLIES].answer_person(
        warning_id, entry.person_id, via="operator", by=request[TOKEN_NAME], how=entry.how.value
    )
    if entry.note and closed.recipient_ids:
        async with db.writer.begin() as conn:
            await attach_note(conn, closed.recipient_ids, entry.note)
    async with db.reader.connect() as conn:
        state, answer = await current_answer(conn, subject)
        closed_persons = await persons_of(conn, closed.recipient_ids)
    view = {
        "warning_id": warning_id,
        "person_id": entry.person_id,
        "name": subject.roster.name_of(entry.person_id),
        "recorded": bool(closed.recipient_ids),
        "state": state,
        "answer": answer,
        "closed": closed_persons,
    }
    if closed.recipient_ids:
        return json_ok(view, status=201)
    if state in ENDED_STATES:
        return problem(409, f"the chain of {entry.person_id} is {state}: nothing to answer")
    return json_ok(view)


@api_route
async def get_tasks(request: web.Request) -> web.Response:
    """Door-knock tasks, open first; `warning` and `status` narrow the list."""
    warning_id = text_of(request, "warning", max_length=32)
    status = choice_of(request, "status", TaskStatus)
    limit = limit_of(request)
    cursor = cursor_of(request, (int, int))
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        items, last = await list_tasks(
            conn,
            rosters,
            warning_id=warning_id,
            status=status.value if status else None,
            limit=limit,
            after=(cursor[0], cursor[1]) if cursor else None,
        )
    following = encode_cursor(last) if last is not None else None
    return json_ok({"tasks": items, "next": following})


@api_route
async def post_task_report(request: web.Request) -> web.Response:
    """Close a field task with its report: a door-knock report (households reached) answers
    for every silent person of the task's grids; a gong report (`sounded_at`, `note`)
    answers for nobody. Reporting again changes nothing and shows the first report."""
    task_id = _row_id(request.match_info["task_id"])
    if task_id is None:
        return problem(404, "no such task")
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        kind = await task_kind(conn, task_id)
    if kind is None:
        return problem(404, f"no task with id {task_id}")
    name = request[TOKEN_NAME]
    report: dict[str, Any]
    if kind == GONG:
        gong = await body_of(request, GongReport)
        sounded_at = gong.sounded_at or request.app[CLOCK]()
        report = {"sounded_at": sounded_at.isoformat(), "note": gong.note, "reported_by": name}
    else:
        entry = await body_of(request, DoorKnockReport)
        report = {**entry.model_dump(), "reported_by": name}
    # The answer path every other answer takes: one transaction for the task and the
    # chains it closes, then the metrics and the scheduler's wake-up.
    reported = await request.app[REPLIES].report_task(task_id, report, by=name)
    if reported is None:
        return problem(404, f"no task with id {task_id}")
    async with request.app[READER].reader.connect() as conn:
        task = await find_task(conn, rosters, task_id)
        closed_persons = await persons_of(conn, reported.closed.recipient_ids)
    return json_ok(
        {
            "task": task,
            "already_reported": not reported.first,
            "closed": len(closed_persons),
            "closed_persons": closed_persons,
        }
    )


def _row_id(text: str) -> int | None:
    try:
        row_id = int(text)
    except ValueError:
        return None
    return row_id if 1 <= row_id <= MAX_ROW_ID else None
