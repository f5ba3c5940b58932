"""Migration timer_lanes on a store with chains in flight: each timer takes its warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.due import claim_due
from dispatcher.store.schema import recipients, roster_snapshots, timers, warnings
from tests.integration.conftest import pg_url

__all__ = ["pg_url"]

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
# (level, persons, how long their timers have been due)
WARNINGS = {
    "w-county-blue": ("blue", 3, timedelta(hours=1)),
    "w-xiaba-red": ("red", 2, timedelta(minutes=1)),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db"
    return str(request.getfixturevalue("pg_url"))


async def test_timers_in_flight_take_their_warning_and_red_is_claimed_first(db_url: str) -> None:
    db = open_database(db_url)
    try:
        await migrate.upgrade(db, "0003")
        async with db.writer.begin() as conn:
            await conn.execute(insert(roster_snapshots).values(id="r1", loaded_at=NOW, body={}))
            rid = 0
            for warning_id, (level, persons, overdue) in WARNINGS.items():
                await conn.execute(
                    insert(warnings).values(
                        id=warning_id,
                        identifier=warning_id,
                        sender="44152341600000",
                        sent=NOW,
                        received_at=NOW,
                        event="暴雨预警",
                        headline="陆河县气象台发布暴雨预警信号",
                        level=level,
                        drill=False,
                        clock_start=NOW,
                        revision=0,
                        chain_revision=0,
                        change="new",
                        roster_id="r1",
                        policy={},
                        grids=[],
                        unmatched_areas=[],
                    )
                )
                for n in range(persons):
                    rid += 1
                    await conn.execute(
                        insert(recipients).values(
                            id=rid,
                            warning_id=warning_id,
                            person_id=f"wg{n:06d}",
                            grid_codes=[],
                            addresses=[],
                            state="pending",
                        )
                    )
                    # Only the columns revision 0003 has: no warning_id yet.
                    await conn.execute(
                        insert(timers).values(recipient_id=rid, eta=NOW - overdue, token=0)
                    )
        await migrate.upgrade(db)
        await migrate.check(db)
        async with db.writer.begin() as conn:
            rows = await conn.execute(text("SELECT recipient_id, warning_id FROM timers"))
            lanes = {row.recipient_id: row.warning_id for row in rows}
            assert lanes == {
                1: "w-county-blue",
                2: "w-county-blue",
                3: "w-county-blue",
                4: "w-xiaba-red",
                5: "w-xiaba-red",
            }
            # The blue timers have been due an hour, the red ones a minute: red goes first.
            assert list(await claim_due(conn, NOW, 3)) == [4, 5, 1]
    finally:
        await db.dispose()
