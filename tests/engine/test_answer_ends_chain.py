"""An answer ends its chain in its own transaction, unless the scheduler has more to do.

When the answer is for the warning's current chain and no change waits to be told, all
the scheduler would do is drop the chain's timer: the answer does it. When an Update (or
a Cancel) has moved the warning on and the person was not yet told, the answer must not
end the chain: the scheduler still owes them the update notice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from dispatcher.service import ENGINE
from dispatcher.store.answers import record_answer
from dispatcher.store.schema import recipients, timers, warnings
from tests.engine.conftest import Jiaoying, app_of, eventually
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

LEVELS = ("red", "orange", "yellow", "blue")


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """An SMS at once, then nothing for an hour: the scheduler is idle after the first pass."""
    path = tmp_path / "sms-then-idle.yaml"
    level = (
        "  answer_within: 2h\n"
        "  steps:\n"
        "    - {after: 0s, notify: [sms]}\n"
        "    - {after: 1h, notify: [sms]}\n"
    )
    path.write_text("".join(f"{name}:\n{level}" for name in LEVELS), encoding="utf-8")
    return path


async def _timers(jiaoying: Jiaoying) -> dict[int, datetime]:
    async with jiaoying.db.reader.connect() as conn:
        rows = await conn.execute(select(timers.c.recipient_id, timers.c.eta))
        return {row.recipient_id: row.eta for row in rows}


async def _everyone_told_and_waiting(jiaoying: Jiaoying) -> bool:
    soon = datetime.now(UTC) + timedelta(minutes=30)
    found = await _timers(jiaoying)
    told = {n.key.split(":")[0] for n in jiaoying.sent("sms", "alert")}
    return bool(found) and len(told) == len(found) and all(eta > soon for eta in found.values())


async def _answer(jiaoying: Jiaoying, recipient: Any) -> tuple[int, ...]:
    async with jiaoying.db.writer.begin() as conn:
        closed = await record_answer(
            conn,
            warning_id=recipient.warning_id,
            person_id=recipient.person_id,
            via="operator",
            by="ops",
            at=datetime.now(UTC),
        )
    return closed.recipient_ids


async def test_an_answer_ends_its_chain_at_once(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: _everyone_told_and_waiting(jiaoying))
    before = await _timers(jiaoying)
    first, *others = await jiaoying.rows(
        "select id, warning_id, person_id from recipients order by id"
    )

    assert await _answer(jiaoying, first) == (first.id,)

    after = await _timers(jiaoying)
    assert first.id not in after, "the answered chain has no timer left"
    assert after == {rid: eta for rid, eta in before.items() if rid != first.id}
    states = {row.id: row.state for row in await jiaoying.rows("select id, state from recipients")}
    assert states[first.id] == "answered"
    assert {states[row.id] for row in others} == {"notified"}


async def test_an_answer_leaves_an_untold_update_to_the_scheduler(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: _everyone_told_and_waiting(jiaoying))
    first, second, *_ = await jiaoying.rows(
        "select id, warning_id, person_id from recipients order by id"
    )
    await _answer(jiaoying, first)  # before the Update: ends at once, told nothing more
    # An Update of the same level has been taken and not yet told to anyone: the state an
    # answer meets between the Update's commit and the scheduler's next batch.
    async with jiaoying.db.writer.begin() as conn:
        await conn.execute(
            update(warnings)
            .where(warnings.c.id == second.warning_id)
            .values(revision=warnings.c.revision + 1, change="renotify")
        )

    assert await _answer(jiaoying, second) == (second.id,)
    # As the answer paths do once an answer is committed (without it, the scheduler would
    # look again only when its idle time is up: a race with the wait below).
    app_of(jiaoying.client)[ENGINE].scheduler.wake()

    await eventually(lambda: _told_update(jiaoying, second.id))
    # (A real Update wakes every chain itself; this one did not, so the first answer's
    # chain, ended there and then, is left alone.)
    assert not _told_update(jiaoying, first.id), "nothing of the first chain was left over"
    await eventually(lambda: _no_timer(jiaoying, second.id))
    async with jiaoying.db.reader.connect() as conn:
        state = await conn.execute(select(recipients.c.state).where(recipients.c.id == second.id))
        assert state.scalar_one() == "answered"


def _told_update(jiaoying: Jiaoying, recipient_id: int) -> bool:
    return any(n.key.startswith(f"{recipient_id}:") for n in jiaoying.sent("sms", "update"))


async def _no_timer(jiaoying: Jiaoying, recipient_id: int) -> bool:
    return recipient_id not in await _timers(jiaoying)
