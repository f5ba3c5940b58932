"""The promise against what happened, per grid, village and township; pure.

A grid is *settled* once every person of it has answered, or a door-knock task covering it
is under way (assigned): somebody is then on the way to its doors. It *met* the policy
when it settled within the level's `answer_within` of the warning's start, *missed* it
when it settled later or never did; a grid of a warning still running that has not
settled and whose time has not run out is *pending*, and one whose warning was cancelled,
cleared or expired before its time ran out is *ended* (not judged: nobody was still
asked to answer).

What the map shows of a grid now: answered (everyone), door-knock under way, escalated
(somebody still silent has been escalated), or waiting.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from dispatcher.core.roster import Roster
from dispatcher.report.records import AnswerRecord, RecipientRecord, Records

DOOR_KNOCK = "door_knock"


class GridState(StrEnum):
    ANSWERED = "answered"
    DOOR_KNOCK = "door_knock"
    ESCALATED = "escalated"
    WAITING = "waiting"


class Verdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class GridFigures:
    code: str
    name: str
    village_code: str
    township_code: str
    persons: int
    answered: int
    escalations: int
    door_knocks: int
    first_answer_s: float | None
    settled_s: float | None
    settled_by: str  # "answers", "door_knock", or "" while not settled
    verdict: Verdict
    state: GridState
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class PlaceFigures:
    """A village or township: its grids' figures summed up."""

    code: str
    name: str
    grids: int
    met: int
    missed: int
    pending: int
    ended: int
    slowest_s: float | None  # the last of its grids to settle; None if one never did


@dataclass(frozen=True, slots=True)
class Village:
    place: PlaceFigures
    grids: tuple[GridFigures, ...]


@dataclass(frozen=True, slots=True)
class Township:
    place: PlaceFigures
    villages: tuple[Village, ...]


def seconds(since: datetime, at: datetime) -> float:
    """Seconds from `since` to `at`; an answer before a restarted clock counts as 0."""
    return round(max(0.0, (at - since).total_seconds()), 3)


def grid_figures(
    records: Records,
    roster: Roster,
    answer_within: timedelta,
    *,
    running: bool,
    now: datetime,
    ended_at: datetime | None = None,
) -> list[GridFigures]:
    """One row per grid the warning reaches, in code order. `ended_at`: when a cancelled,
    cleared or expired warning ended."""
    start = records.warning.clock_start
    members: dict[str, list[RecipientRecord]] = defaultdict(list)
    for recipient in records.recipients:
        for code in recipient.grid_codes:
            members[code].append(recipient)
    first_answer = _earliest(records.answers)
    # A person's answer, or a supervisor's for them; a door-knock report is the task's.
    first_spoken = _earliest(a for a in records.answers if a.via != DOOR_KNOCK)
    door_knocks: dict[str, list[datetime]] = defaultdict(list)
    open_door_knock: set[str] = set()
    for task in records.tasks:
        if task.kind != DOOR_KNOCK:
            continue
        for code in task.grid_codes:
            door_knocks[code].append(task.created_at)
            if task.status == "open":
                open_door_knock.add(code)
    escalations_of = Counter(e.recipient_id for e in records.escalations)
    escalations: Counter[str] = Counter()
    for recipient in records.recipients:
        for code in recipient.grid_codes:
            escalations[code] += escalations_of[recipient.id]
    escalated = set(escalations_of)
    codes = sorted({*records.warning.grids, *members})
    rows = []
    for code in codes:
        people = members.get(code, [])
        answered_at = [_answered_at(r, first_answer) for r in people]
        knock = min(door_knocks[code], default=None)
        settled, settled_by = _settled(answered_at, knock)
        settled_s = None if settled is None else seconds(start, settled)
        firsts = [at for at in answered_at if at is not None]
        spoken = [first_spoken[r.id] for r in people if r.id in first_spoken]
        grid = roster.grids.get(code)
        location = grid.location if grid else None
        rows.append(
            GridFigures(
                code=code,
                name=grid.name if grid else code,
                village_code=code[:12],
                township_code=code[:9],
                persons=len(people),
                answered=len(firsts),
                escalations=escalations[code],
                door_knocks=len(door_knocks[code]),
                first_answer_s=seconds(start, min(spoken)) if spoken else None,
                settled_s=settled_s,
                settled_by=settled_by,
                verdict=_verdict(
                    settled_s, answer_within, start, running=running, now=now, ended_at=ended_at
                ),
                state=_state(people, answered_at, code in open_door_knock, escalated),
                lat=location.lat if location else None,
                lon=location.lon if location else None,
            )
        )
    return rows


def _earliest(answers: Iterable[AnswerRecord]) -> dict[int, datetime]:
    """Each recipient's earliest of `answers`."""
    found: dict[int, datetime] = {}
    for answer in answers:
        if answer.recipient_id not in found or answer.at < found[answer.recipient_id]:
            found[answer.recipient_id] = answer.at
    return found


def _answered_at(
    recipient: RecipientRecord, first_answer: Mapping[int, datetime]
) -> datetime | None:
    return recipient.answered_at or first_answer.get(recipient.id)


def _settled(
    answered_at: Sequence[datetime | None], knock: datetime | None
) -> tuple[datetime | None, str]:
    if answered_at and all(at is not None for at in answered_at):
        everyone = max(at for at in answered_at if at is not None)
        if knock is None or everyone <= knock:
            return everyone, "answers"
    if knock is not None:
        return knock, DOOR_KNOCK
    return None, ""


def _verdict(
    settled_s: float | None,
    answer_within: timedelta,
    start: datetime,
    *,
    running: bool,
    now: datetime,
    ended_at: datetime | None,
) -> Verdict:
    limit = answer_within.total_seconds()
    if settled_s is not None:
        return Verdict.MET if settled_s <= limit else Verdict.MISSED
    if ended_at is not None and (ended_at - start).total_seconds() <= limit:
        return Verdict.ENDED
    if running and (now - start).total_seconds() <= limit:
        return Verdict.PENDING
    return Verdict.MISSED


def _state(
    people: Sequence[RecipientRecord],
    answered_at: Sequence[datetime | None],
    door_knock_open: bool,
    escalated: set[int],
) -> GridState:
    if people and all(at is not None for at in answered_at):
        return GridState.ANSWERED
    if door_knock_open:
        return GridState.DOOR_KNOCK
    silent = [r for r, at in zip(people, answered_at, strict=True) if at is None]
    if any(r.id in escalated or r.escalation > 0 for r in silent):
        return GridState.ESCALATED
    return GridState.WAITING


def townships(
    grids: Iterable[GridFigures], place_names: Mapping[str, str | None]
) -> list[Township]:
    """The grids grouped township → village, in code order, each place summed up."""
    by_township: dict[str, dict[str, list[GridFigures]]] = defaultdict(lambda: defaultdict(list))
    for grid in grids:
        by_township[grid.township_code][grid.village_code].append(grid)
    found = []
    for township_code in sorted(by_township):
        villages = [
            Village(_place(code, place_names, rows), tuple(rows))
            for code, rows in sorted(by_township[township_code].items())
        ]
        every = [grid for village in villages for grid in village.grids]
        found.append(Township(_place(township_code, place_names, every), tuple(villages)))
    return found


def _place(
    code: str, names: Mapping[str, str | None], grids: Sequence[GridFigures]
) -> PlaceFigures:
    settled = [grid.settled_s for grid in grids]
    return PlaceFigures(
        code=code,
        name=names.get(code) or code,
        grids=len(grids),
        met=sum(1 for grid in grids if grid.verdict is Verdict.MET),
        missed=sum(1 for grid in grids if grid.verdict is Verdict.MISSED),
        pending=sum(1 for grid in grids if grid.verdict is Verdict.PENDING),
        ended=sum(1 for grid in grids if grid.verdict is Verdict.ENDED),
        slowest_s=_slowest(settled),
    )


def _slowest(settled: Sequence[float | None]) -> float | None:
    if None in settled:
        return None
    return max((s for s in settled if s is not None), default=None)


def curve(records: Records, grids: Sequence[GridFigures]) -> dict[str, list[float]]:
    """When each person answered and each grid settled, seconds from the start, ascending:
    the answer curve counts them up over time."""
    start = records.warning.clock_start
    first_answer = _earliest(records.answers)
    persons = sorted(
        seconds(start, at)
        for r in records.recipients
        if (at := _answered_at(r, first_answer)) is not None
    )
    settled = sorted(grid.settled_s for grid in grids if grid.settled_s is not None)
    return {"persons": persons, "grids": settled}


def totals(grids: Sequence[GridFigures], records: Records) -> dict[str, Any]:
    """The whole warning in a few figures (the head of the report, a drill's comparison)."""
    settled = [grid.settled_s for grid in grids]
    return {
        "grids": len(grids),
        "met": sum(1 for grid in grids if grid.verdict is Verdict.MET),
        "missed": sum(1 for grid in grids if grid.verdict is Verdict.MISSED),
        "pending": sum(1 for grid in grids if grid.verdict is Verdict.PENDING),
        "ended": sum(1 for grid in grids if grid.verdict is Verdict.ENDED),
        "persons": len(records.recipients),
        "answered": sum(1 for r in records.recipients if r.answered_at is not None),
        "all_settled_s": _slowest(settled),
        "states": {state.value: sum(1 for g in grids if g.state is state) for state in GridState},
    }
