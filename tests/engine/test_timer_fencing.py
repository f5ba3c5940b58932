"""A scheduler's timer writes are fenced by the token it claimed: once another transaction
has moved the timer on (an answer woke the chain, another replica claimed it), a stale
decision neither moves nor drops it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dispatcher.store.chains import save_decisions
from dispatcher.store.schema import timers
from tests.engine.conftest import Jiaoying, eventually
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

LEVELS = ("red", "orange", "yellow", "blue")


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """Nothing due for an hour: the running scheduler leaves the timers alone."""
    path = tmp_path / "idle.yaml"
    level = "  answer_within: 2h\n  steps:\n    - {after: 1h, notify: [sms]}\n"
    path.write_text("".join(f"{name}:\n{level}" for name in LEVELS), encoding="utf-8")
    return path


async def _timers(jiaoying: Jiaoying) -> dict[int, tuple[datetime, int]]:
    async with jiaoying.db.reader.connect() as conn:
        rows = await conn.execute(select(timers.c.recipient_id, timers.c.eta, timers.c.token))
        return {row.recipient_id: (row.eta, row.token) for row in rows}


async def _all_waiting_an_hour(jiaoying: Jiaoying) -> bool:
    """The scheduler's first pass is done: every timer is at the first step's hour."""
    soon = datetime.now(UTC) + timedelta(minutes=30)
    found = await _timers(jiaoying)
    return bool(found) and all(eta > soon for eta, _ in found.values())


async def test_a_stale_token_neither_moves_nor_drops_a_timer(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: _all_waiting_an_hour(jiaoying))
    before = await _timers(jiaoying)
    moving, dropping = sorted(before)[:2]
    async with jiaoying.db.writer.begin() as conn:  # another transaction moved them on
        await conn.execute(
            update(timers)
            .where(timers.c.recipient_id.in_([moving, dropping]))
            .values(token=timers.c.token + 1)
        )
    later = datetime.now(UTC) + timedelta(hours=3)
    stale = {moving: before[moving][1], dropping: before[dropping][1]}

    async with jiaoying.db.writer.begin() as conn:
        await save_decisions(
            conn,
            [],
            [{"rid": moving, "fence": stale[moving], "eta": later}],
            [(dropping, stale[dropping])],
        )
    after = await _timers(jiaoying)
    assert after[moving] == (before[moving][0], stale[moving] + 1), "a stale move changes nothing"
    assert dropping in after, "a stale drop changes nothing"

    async with jiaoying.db.writer.begin() as conn:
        await save_decisions(
            conn,
            [],
            [{"rid": moving, "fence": stale[moving] + 1, "eta": later}],
            [(dropping, stale[dropping] + 1)],
        )
    after = await _timers(jiaoying)
    assert after[moving] == (
        later.replace(microsecond=after[moving][0].microsecond),
        stale[moving] + 2,
    )
    assert dropping not in after
    assert set(after) == set(before) - {dropping}, "no other timer was touched"
