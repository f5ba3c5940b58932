"""The scheduler's reads and writes: claim due timers, load snapshots, persist decisions.

All of it runs in one write transaction per batch. PostgreSQL replicas each lock their
own due rows (`FOR UPDATE SKIP LOCKED`); SQLite's BEGIN IMMEDIATE serialises writers.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.answers import ends_with_answer
from dispatcher.core.lifecycle import Change, Ending, Lifecycle
from dispatcher.core.machine import Answer, Attempt, Outcome, Recipient, RecipientState
from dispatcher.core.model import Level
from dispatcher.store.schema import (
    answers,
    attempts,
    outbox,
    recipients,
    timers,
    warnings,
)

ATTEMPT_OUTCOMES = {
    "claimed": Outcome.PENDING,
    "sent": Outcome.PENDING,
    "delivered": Outcome.DELIVERED,
    "failed": Outcome.FAILED,
    "rejected": Outcome.REJECTED,
    "simulated": Outcome.SIMULATED,
}


@dataclass(frozen=True, slots=True)
class ChainState:
    warning_id: str
    lifecycle: Lifecycle
    policy: dict[str, Any]
    roster_id: str
    event: str
    headline: str
    current_message_id: int


@dataclass(frozen=True, slots=True)
class StoredRecipient:
    id: int
    warning_id: str
    person_id: str
    grid_codes: tuple[str, ...]
    state: RecipientState
    snapshot: Recipient
    token: int


def upsert(conn: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT."""
    return insert_of(conn.dialect.name, table)


def insert_of(dialect: str, table: Any) -> Any:
    """The INSERT with ON CONFLICT of `dialect` ("postgresql", else SQLite's)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


# The scheduler's statements are built once and bound per batch (an answered chain is a
# batch of its own when answers trickle in): building one cost more than running it.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_ANSWERS_OF = select(
    answers.c.recipient_id, answers.c.at, answers.c.via, answers.c.chain_revision
).where(answers.c.recipient_id.in_(_IDS))
_ATTEMPTS_OF = select(
    attempts.c.recipient_id,
    attempts.c.channel,
    attempts.c.status,
    attempts.c.chain_revision,
).where(attempts.c.recipient_id.in_(_IDS))
_RECIPIENTS_LOCKED = select(recipients).where(recipients.c.id.in_(_IDS)).with_for_update()


async def load_recipients(conn: AsyncConnection, tokens: dict[int, int]) -> list[StoredRecipient]:
    """The claimed recipients, in the order of `tokens` (the claim's: most urgent first)."""
    ids = {"ids": list(tokens)}
    answered: dict[int, list[Answer]] = defaultdict(list)
    for row in await conn.execute(_ANSWERS_OF, ids):
        answered[row.recipient_id].append(Answer(row.at, row.via, row.chain_revision))
    tried: dict[int, list[Attempt]] = defaultdict(list)
    for row in await conn.execute(_ATTEMPTS_OF, ids):
        outcome = ATTEMPT_OUTCOMES.get(row.status, Outcome.PENDING)
        tried[row.recipient_id].append(Attempt(row.channel, outcome, row.chain_revision))
    stored = []
    for row in await conn.execute(_RECIPIENTS_LOCKED, ids):
        snapshot = Recipient(
            addresses=frozenset(row.addresses),
            cursor=row.cursor,
            escalation=row.escalation,
            revision=row.revision,
            chain_revision=row.chain_revision,
            answers=tuple(answered[row.id]),
            attempts=tuple(tried[row.id]),
        )
        stored.append(
            StoredRecipient(
                id=row.id,
                warning_id=row.warning_id,
                person_id=row.person_id,
                grid_codes=tuple(row.grid_codes),
                state=RecipientState(row.state),
                snapshot=snapshot,
                token=tokens[row.id],
            )
        )
    position = {rid: n for n, rid in enumerate(tokens)}
    stored.sort(key=lambda recipient: position[recipient.id])
    return stored


# What a decision needs of a warning; never `grids` and `unmatched_areas`: a county-wide
# warning lists every grid, and the scheduler reads its chain on every batch.
_CHAIN_COLUMNS = (
    warnings.c.id,
    warnings.c.level,
    warnings.c.clock_start,
    warnings.c.expires,
    warnings.c.drill,
    warnings.c.revision,
    warnings.c.chain_revision,
    warnings.c.change,
    warnings.c.ending,
    warnings.c.policy,
    warnings.c.roster_id,
    warnings.c.event,
    warnings.c.headline,
    warnings.c.current_message_id,
)


_CHAINS_OF = select(*_CHAIN_COLUMNS).where(warnings.c.id.in_(_IDS))


async def load_chains(conn: AsyncConnection, warning_ids: Iterable[str]) -> dict[str, ChainState]:
    chains = {}
    for row in await conn.execute(_CHAINS_OF, {"ids": sorted(set(warning_ids))}):
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
        chains[row.id] = ChainState(
            warning_id=row.id,
            lifecycle=lifecycle,
            policy=row.policy,
            roster_id=row.roster_id,
            event=row.event,
            headline=row.headline,
            current_message_id=row.current_message_id,
        )
    return chains


_SAVE_RECIPIENT = (
    update(recipients)
    .where(recipients.c.id == bindparam("rid"))
    .values(
        state=bindparam("state"),
        cursor=bindparam("cursor"),
        escalation=bindparam("escalation"),
        revision=bindparam("revision"),
        chain_revision=bindparam("chain_revision"),
    )
)
_MOVE_TIMER = (
    update(timers)
    .where(timers.c.recipient_id == bindparam("rid"), timers.c.token == bindparam("fence"))
    .values(eta=bindparam("eta"), token=timers.c.token + 1)
)

_DROP_TIMER = delete(timers).where(
    timers.c.recipient_id == bindparam("rid"), timers.c.token == bindparam("fence")
)


async def save_decisions(
    conn: AsyncConnection,
    saved: Sequence[dict[str, Any]],
    moved: Sequence[dict[str, Any]],
    finished: Sequence[tuple[int, int]],
) -> None:
    """Persist new recipient state, move timers to their next eta, drop finished ones.

    Every timer write is fenced by the token read at claim time.
    """
    if saved:
        await conn.execute(_SAVE_RECIPIENT, list(saved))
    if moved:
        await conn.execute(_MOVE_TIMER, list(moved))
    if finished:
        await conn.execute(_DROP_TIMER, [{"rid": rid, "fence": token} for rid, token in finished])


_FIRST_NOTIFIED = (
    update(recipients)
    .where(recipients.c.id.in_(_IDS), recipients.c.first_notified_at.is_(None))
    .values(first_notified_at=bindparam("now"))
)


async def mark_first_notified(conn: AsyncConnection, ids: Sequence[int], now: datetime) -> None:
    if ids:
        await conn.execute(_FIRST_NOTIFIED, {"ids": list(ids), "now": now})


async def claim_sends(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert attempt rows (status `claimed`); returns key → id for the ones new here."""
    if not rows:
        return {}
    statement = _claim_statement(conn.dialect.name)
    return {row.key: row.id for row in await conn.execute(statement, list(rows))}


@functools.cache
def _claim_statement(dialect: str) -> Any:
    return (
        insert_of(dialect, attempts)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(attempts.c.id, attempts.c.key)
    )


_ADD_EVENTS = insert(outbox)


async def add_events(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_ADD_EVENTS, list(rows))


_TOLD_NOT_DELIVERED = (RecipientState.PENDING.value, RecipientState.NOTIFIED.value)


# Built once, the ids bound per call (its IN of literals cost a tenth of a report batch).
_MARK_DELIVERED = (
    update(recipients)
    .where(recipients.c.id.in_(_IDS), recipients.c.state.in_(_TOLD_NOT_DELIVERED))
    .values(state=RecipientState.DELIVERED.value)
)


async def mark_delivered(conn: AsyncConnection, recipient_ids: Sequence[int]) -> None:
    """Show `delivered` for recipients that were only `notified` (never move a state back)."""
    if recipient_ids:
        await conn.execute(_MARK_DELIVERED, {"ids": list(recipient_ids)})


async def wake_recipients(
    conn: AsyncConnection, recipient_ids: Sequence[int], now: datetime
) -> None:
    """Make these recipients' chains due now, even those whose timers had run out."""
    if not recipient_ids:
        return
    ids = sorted(set(recipient_ids))
    lanes = {row.id: row.warning_id for row in await conn.execute(_WARNING_OF, {"ids": ids})}
    await conn.execute(
        _wake_statement(conn.dialect.name),
        [
            {"recipient_id": rid, "warning_id": lanes[rid], "eta": now, "token": 0}
            for rid in ids
            if rid in lanes
        ],
    )


_WARNING_OF = select(recipients.c.id, recipients.c.warning_id).where(recipients.c.id.in_(_IDS))


# Where each answered chain stands against its warning, for `ends_with_answer`.
_POSITIONS = (
    select(
        recipients.c.id,
        recipients.c.revision,
        recipients.c.chain_revision,
        warnings.c.revision.label("warning_revision"),
        warnings.c.chain_revision.label("warning_chain"),
    )
    .join(warnings, warnings.c.id == recipients.c.warning_id)
    .where(recipients.c.id.in_(_IDS), recipients.c.state == RecipientState.ANSWERED.value)
)
_DROP_TIMERS = (
    delete(timers).where(timers.c.recipient_id.in_(_IDS)).returning(timers.c.recipient_id)
)


async def end_answered(
    conn: AsyncConnection, recipient_ids: Sequence[int], now: datetime
) -> set[int]:
    """End these just-answered chains in the answer's own transaction where that is all
    the scheduler would do (the core's `ends_with_answer`: drop the timer; the state is
    already `answered`), and wake the rest, whose answer the scheduler must weigh against
    a change not yet told or a chain begun anew. Returns the ids it ended: the others wait
    for the scheduler. Done here, an answer no longer costs the scheduler a batch of its
    own.

    The caller holds the chains' locks (`lock_chains`): no scheduler holds these timers."""
    ids = sorted(set(recipient_ids))
    if not ids:
        return set()
    settled = [
        row.id
        for row in await conn.execute(_POSITIONS, {"ids": ids})
        if ends_with_answer(
            recipient_revision=row.revision,
            recipient_chain=row.chain_revision,
            warning_revision=row.warning_revision,
            warning_chain=row.warning_chain,
        )
    ]
    ended: set[int] = set()
    if settled:
        ended = set((await conn.execute(_DROP_TIMERS, {"ids": settled})).scalars())
    await wake_recipients(conn, [rid for rid in ids if rid not in ended], now)
    return ended


@functools.cache
def _wake_statement(dialect: str) -> Any:
    """Built once per dialect: its `excluded` alias cost more to build than to run."""
    statement = insert_of(dialect, timers)
    return statement.on_conflict_do_update(
        index_elements=["recipient_id"],
        set_={"eta": statement.excluded.eta, "token": timers.c.token + 1},
    )


async def lock_chains(conn: AsyncConnection, recipient_ids: Sequence[int]) -> bool:
    """Lock these recipients' timers, then the recipients, in id order; whether any lock
    was taken (then what was read before may have changed meanwhile).

    The scheduler locks a due timer before its recipient; everything else that changes a
    chain takes the locks in the same order, so PostgreSQL never sees a lock cycle.
    (SQLite serialises writers and ignores FOR UPDATE: a write transaction holds the
    database's only write lock from BEGIN IMMEDIATE, so nothing it read can change, and
    the two reads would only cost an answer round trips to the database thread.)
    """
    if conn.dialect.name == "sqlite":
        return False
    ordered = sorted(set(recipient_ids))
    await conn.execute(
        select(timers.c.recipient_id)
        .where(timers.c.recipient_id.in_(ordered))
        .order_by(timers.c.recipient_id)
        .with_for_update()
    )
    await conn.execute(
        select(recipients.c.id)
        .where(recipients.c.id.in_(ordered))
        .order_by(recipients.c.id)
        .with_for_update()
    )
    return True


async def lock_warnings(conn: AsyncConnection, warning_ids: Sequence[str]) -> bool:
    """Lock these warnings' rows, in id order; whether any lock was taken (never on
    SQLite, whose write transactions are serial already).

    Taken before any chain of theirs: an answer under `grid_answer: any` reads its
    colleagues' states and may close their chains, so two answers in one such warning
    must not interleave, nor each hold a chain the other wants. (An Update or Cancel
    writes its warning's row before its chains too: the same order.)
    """
    if conn.dialect.name == "sqlite" or not warning_ids:
        return False
    # FOR NO KEY UPDATE, not FOR UPDATE: it serialises the answers (and an Update's write
    # of the row) without refusing the share of the row that every insert referencing the
    # warning takes for its foreign key. Otherwise an answer holding its warning and
    # waiting for a timer the scheduler holds, and the scheduler inserting that timer's
    # sends, wait on each other.
    await conn.execute(
        select(warnings.c.id)
        .where(warnings.c.id.in_(sorted(set(warning_ids))))
        .order_by(warnings.c.id)
        .with_for_update(key_share=True)
    )
    return True
