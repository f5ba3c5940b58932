"""Recording answers (应): a person's own, a supervisor's for the silent persons they were
called about, a door-knock report for the grids it covers.

Every answer names who gave it and how; each one closes exactly the chains it may close
(DESIGN.md: one grid person's answer does not silence a colleague, unless the level's
policy says `grid_answer: any`). An answered chain ends in the answer's transaction when
that is all the machine would do, else it is woken for the machine (`end_answered`).

Answers are recorded set-based: a burst of SMS replies committed together (see
`GroupCommit`) costs a handful of statements, not a dozen per reply. The outcome is the
one recording them one after the other, in order, would give: a chain goes to the first
answer that may close it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    bindparam,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.answers import (
    Closing,
    GridMember,
    OpenChains,
    assign_answers,
    needs_members,
)
from dispatcher.core.gong import GONG
from dispatcher.core.machine import OPEN_STATES, RecipientState
from dispatcher.core.model import Level
from dispatcher.core.policy import GridAnswer
from dispatcher.store.chains import add_events, end_answered, lock_chains, lock_warnings
from dispatcher.store.intake import audit_row
from dispatcher.store.outbox import event_row
from dispatcher.store.policies import level_policy
from dispatcher.store.reports import summoned_about_silent
from dispatcher.store.schema import (
    answers,
    audit,
    escalations,
    recipients,
    summons,
    tasks,
    warnings,
)


@dataclass(frozen=True, slots=True)
class Claim:
    """`person_id` answered `warning_id` at `at`: `via` what, entered `by` whom (the person
    themself, or an operator).

    A claim with `grids` is a door-knock report: it answers for every silent person of
    those grids, not for a person of its own (`person_id` is then the reporter, as `by`).
    """

    warning_id: str
    person_id: str
    via: str
    by: str
    at: datetime
    how: str | None = None
    detail: str | None = None
    grids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Closed:
    """The chains one answer closed: how each was answered, and how long after `sent`."""

    warning_id: str
    recipient_ids: tuple[int, ...]
    vias: tuple[str, ...] = ()
    level: str = ""
    seconds_after_sent: float = 0.0
    # Some chain it closed is left to the scheduler (a change not yet told, see
    # `end_answered`); the others ended with the answer.
    waiting: bool = False


@dataclass(frozen=True, slots=True)
class _Chain:
    """What closing a warning's chains needs of the warning."""

    level: Level
    clock_start: datetime
    grid_answer: GridAnswer


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
    """Record that `person_id` answered warning `warning_id` (see `record_answers`)."""
    claim = Claim(warning_id, person_id, via, by, at, how, detail)
    (closed,) = await record_answers(conn, [claim])
    return closed


async def record_answers(conn: AsyncConnection, claims: Sequence[Claim]) -> list[Closed]:
    """Record these answers, in order; what each closed.

    An answer closes the person's own chain, and, when they are a supervisor who was
    called about silent persons, those persons' chains too ("their answer closes all of
    them"); under `grid_answer: any`, also the colleagues whose every grid now has one.
    """
    if not claims:
        return []
    chains = await _locked_chains(conn, {claim.warning_id for claim in claims})
    found = await _find_open(conn, claims)
    ids = found.ids()
    if ids and await lock_chains(conn, ids):
        # Read again under the locks: another replica may have moved a chain meanwhile.
        found = await _find_open(conn, claims, only=ids)
    await _mark_summons_answered(conn, [claim for claim in claims if not claim.grids])
    closing = await _assign(conn, claims, found, chains)
    return await _close(conn, claims, closing, chains)


@dataclass(frozen=True, slots=True)
class TaskReport:
    """What a door-knock report did: the chains it closed, and whether it was the task's
    first report (a repeated one changes nothing)."""

    closed: Closed
    first: bool


async def report_task(
    conn: AsyncConnection, task_id: int, report: dict[str, Any], *, by: str, at: datetime
) -> TaskReport | None:
    """Close a door-knock task with its report, recorded by `by`; as an answer, it
    answers for every silent person of the task's grids (`record_answers`). Returns None
    for an unknown task; reporting twice changes nothing."""
    task = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one_or_none()
    if task is None:
        return None
    if task.status == "done":
        return TaskReport(Closed(task.warning_id, ()), first=False)
    await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(status="done", reported_at=at, report=report)
    )
    if task.kind == GONG:
        # The gong warns the village; it is no grid person's answer to the 叫应.
        return TaskReport(Closed(task.warning_id, ()), first=True)
    claim = Claim(
        task.warning_id, by, "door_knock", by, at, how="door_knock", grids=tuple(task.grid_codes)
    )
    (closed,) = await record_answers(conn, [claim])
    return TaskReport(closed, first=True)


# Which side of `_Open` a row of `_open_query` belongs to.
_OWN, _SUMMONED = 0, 1


def _open_query(*, only: bool) -> CompoundSelect[*tuple[Any, ...]]:
    """The chains of these persons in these warnings that are open: their own (`_OWN`),
    and those of the silent persons they were summoned about (`_SUMMONED`), each side by
    recipient id; with `only`, of those ids alone. One statement for both sides: a
    statement costs an SMS reply on its own more than SQLite takes to run it."""
    person_ids: BindParameter[Any] = bindparam("person_ids", expanding=True)
    warning_ids: BindParameter[Any] = bindparam("warning_ids", expanding=True)
    own = select(
        literal_column(str(_OWN)).label("side"),
        recipients.c.warning_id,
        recipients.c.person_id,
        recipients.c.id,
        recipients.c.chain_revision,
    ).where(
        recipients.c.person_id.in_(person_ids),
        recipients.c.warning_id.in_(warning_ids),
        recipients.c.state.in_(OPEN_STATES),
    )
    # From the supervisor's escalation rows to their recipients by id: with the warning on
    # the recipients' side, SQLite walked every recipient of the warning for each answer.
    summoned = summoned_about_silent(
        literal_column(str(_SUMMONED)).label("side"),
        escalations.c.warning_id,
        escalations.c.target_id,
        recipients.c.id,
        recipients.c.chain_revision,
    ).where(
        escalations.c.target_id.in_(person_ids),
        escalations.c.warning_id.in_(warning_ids),
    )
    if only:
        ids: BindParameter[Any] = bindparam("only", expanding=True)
        own = own.where(recipients.c.id.in_(ids))
        summoned = summoned.where(recipients.c.id.in_(ids))
    both = union_all(own, summoned)
    return both.order_by(both.selected_columns.side, both.selected_columns.id)


# The answer path's statements are built once and bound per batch: building one (its
# clauses and cache key) cost more CPU than SQLite took to run it.
_OPEN = _open_query(only=False)
_OPEN_ONLY = _open_query(only=True)
_CHAINS = select(warnings.c.id, warnings.c.level, warnings.c.clock_start, warnings.c.policy).where(
    warnings.c.id.in_(bindparam("warning_ids", expanding=True))
)
_SUMMONS_ANSWERED = (
    update(summons)
    .where(
        summons.c.warning_id == bindparam("summons_warning"),
        summons.c.person_id == bindparam("summons_person"),
        summons.c.eta.is_(None),
        summons.c.answered_at.is_(None),
    )
    .values(answered_at=bindparam("answered"))
)
_ANSWERED = (
    update(recipients)
    .where(recipients.c.id == bindparam("closed_id"))
    .values(state=RecipientState.ANSWERED.value, answered_at=bindparam("closed_at"))
)
_INSERT_ANSWERS = insert(answers)
_INSERT_AUDIT = insert(audit)


async def _find_open(
    conn: AsyncConnection, claims: Sequence[Claim], *, only: Sequence[int] | None = None
) -> OpenChains:
    """The open chains the claims may close, of those with ids `only` when given."""
    found = OpenChains()
    pairs = {(claim.warning_id, claim.person_id) for claim in claims if not claim.grids}
    if pairs:
        bound: dict[str, Any] = {
            "person_ids": sorted({person_id for _, person_id in pairs}),
            "warning_ids": sorted({warning_id for warning_id, _ in pairs}),
        }
        query = _OPEN
        if only is not None:
            query, bound["only"] = _OPEN_ONLY, list(only)
        for side, warning_id, person_id, rid, chain in await conn.execute(query, bound):
            into = found.own if side == _OWN else found.summoned
            if (warning_id, person_id) in pairs and (rid, chain) not in into[warning_id, person_id]:
                into[warning_id, person_id].append((rid, chain))
    for claim in claims:
        if claim.grids:
            found.covered[claim.warning_id, claim.grids] = await _open_in_grids(
                conn, claim.warning_id, claim.grids, only
            )
    return found


async def _open_in_grids(
    conn: AsyncConnection, warning_id: str, grids: tuple[str, ...], only: Sequence[int] | None
) -> list[tuple[int, int]]:
    """The warning's open chains of persons who answer for any of `grids`, by id."""
    query = select(recipients.c.id, recipients.c.chain_revision, recipients.c.grid_codes).where(
        recipients.c.warning_id == warning_id, recipients.c.state.in_(OPEN_STATES)
    )
    if only is not None:
        query = query.where(recipients.c.id.in_(only))
    wanted = set(grids)
    rows = await conn.execute(query.order_by(recipients.c.id))
    return [(row.id, row.chain_revision) for row in rows if wanted & set(row.grid_codes)]


async def _mark_summons_answered(conn: AsyncConnection, claims: Sequence[Claim]) -> None:
    """A supervisor's summons about a warning is answered by their first answer to it."""
    first: dict[tuple[str, str], datetime] = {}
    for claim in claims:
        first.setdefault((claim.warning_id, claim.person_id), claim.at)
    if not first:
        return
    await conn.execute(
        _SUMMONS_ANSWERED,
        [
            {"summons_warning": warning_id, "summons_person": person_id, "answered": at}
            for (warning_id, person_id), at in first.items()
        ],
    )


async def _locked_chains(conn: AsyncConnection, warning_ids: set[str]) -> dict[str, _Chain]:
    """The warnings' chains, those under `grid_answer: any` locked (see `lock_warnings`)."""
    chains = await _chains(conn, warning_ids)
    shared = [w for w, chain in chains.items() if chain.grid_answer is GridAnswer.ANY]
    if await lock_warnings(conn, shared):
        chains = await _chains(conn, warning_ids)  # as it stands under the lock
    return chains


async def _chains(conn: AsyncConnection, warning_ids: Iterable[str]) -> dict[str, _Chain]:
    rows = await conn.execute(_CHAINS, {"warning_ids": sorted(warning_ids)})
    chains = {}
    for row in rows:
        level = Level(row.level)
        grid_answer = level_policy(row.id, level, row.policy).grid_answer
        chains[row.id] = _Chain(level, row.clock_start, grid_answer)
    return chains


async def _assign(
    conn: AsyncConnection,
    claims: Sequence[Claim],
    found: OpenChains,
    chains: dict[str, _Chain],
) -> list[Closing]:
    """Which claim closes which chain: the core's `assign_answers`, given every recipient
    of the `grid_answer: any` warnings it needs to see."""
    grid_answer = {warning_id: chain.grid_answer for warning_id, chain in chains.items()}
    members = {
        warning_id: await _everyone(conn, warning_id)
        for warning_id in sorted(needs_members(claims, found, grid_answer))
    }
    return assign_answers(claims, found, grid_answer, members)


async def _everyone(conn: AsyncConnection, warning_id: str) -> list[GridMember]:
    rows = await conn.execute(
        select(
            recipients.c.id,
            recipients.c.chain_revision,
            recipients.c.grid_codes,
            recipients.c.state,
        ).where(recipients.c.warning_id == warning_id)
    )
    return [
        GridMember(row.id, row.chain_revision, tuple(row.grid_codes), row.state) for row in rows
    ]


async def _close(
    conn: AsyncConnection,
    claims: Sequence[Claim],
    closing: list[Closing],
    chains: dict[str, _Chain],
) -> list[Closed]:
    """Write what `closing` closes: answers, states, wake-ups, events, an audit row per
    claim; and tell each claim what it closed."""
    by_claim: dict[int, list[Closing]] = defaultdict(list)
    for entry in closing:
        by_claim[entry.claim].append(entry)
    ended: set[int] = set()
    if closing:
        ids = [entry.recipient_id for entry in closing]
        await lock_chains(conn, ids)
        await conn.execute(_INSERT_ANSWERS, [_answer_row(claims[e.claim], e) for e in closing])
        await conn.execute(
            _ANSWERED,
            [{"closed_id": e.recipient_id, "closed_at": claims[e.claim].at} for e in closing],
        )
        ended = await end_answered(conn, ids, max(claim.at for claim in claims))
        await add_events(conn, [_event(claims[e.claim], chains, e) for e in closing])
        await conn.execute(
            _INSERT_AUDIT,
            [
                audit_row(
                    "answered",
                    now=claims[index].at,
                    actor=claims[index].by,
                    warning_id=claims[index].warning_id,
                    recipients=[entry.recipient_id for entry in entries],
                    how=claims[index].how,
                )
                for index, entries in by_claim.items()
            ],
        )
    return [
        _closed(claim, by_claim.get(index, []), chains, ended) for index, claim in enumerate(claims)
    ]


def _answer_row(claim: Claim, entry: Closing) -> dict[str, Any]:
    return {
        "warning_id": claim.warning_id,
        "recipient_id": entry.recipient_id,
        "at": claim.at,
        "via": entry.via,
        "by": entry.by,
        "how": claim.how,
        "chain_revision": entry.chain_revision,
        "detail": claim.detail,
    }


def _event(claim: Claim, chains: dict[str, _Chain], entry: Closing) -> dict[str, Any]:
    body = {
        "warning_id": claim.warning_id,
        "recipient_id": entry.recipient_id,
        "via": entry.via,
        "by": entry.by,
    }
    return event_row("answered", chains[claim.warning_id].level, now=claim.at, body=body)


def _closed(
    claim: Claim, entries: list[Closing], chains: dict[str, _Chain], ended: set[int]
) -> Closed:
    if not entries:
        return Closed(claim.warning_id, ())
    chain = chains[claim.warning_id]
    return Closed(
        claim.warning_id,
        tuple(entry.recipient_id for entry in entries),
        vias=tuple(entry.via for entry in entries),
        level=chain.level.value,
        seconds_after_sent=max(0.0, (claim.at - chain.clock_start).total_seconds()),
        waiting=any(entry.recipient_id not in ended for entry in entries),
    )
