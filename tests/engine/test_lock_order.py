"""PostgreSQL's row locks: an answer and the scheduler's claim never wait on each other in a
cycle. (SQLite serialises writers: no lock cycle is possible there.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dispatcher.store.chains import claim_sends, lock_chains, lock_warnings
from tests.engine.conftest import Jiaoying, eventually
from tests.pg import fresh_database


@pytest.fixture
async def db_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


async def test_an_answer_holding_its_warning_lets_the_scheduler_claim_its_sends(
    jiaoying: Jiaoying,
) -> None:
    """The answer path locks its warning, then the chains; the scheduler holds a chain's
    timer and inserts that warning's sends, whose foreign key needs a share of the
    warning's row. Before the fix the answer's FOR UPDATE refused that share: a deadlock,
    and one side's transaction thrown away (an SMS reply lost, or a claim retried)."""
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: jiaoying.sent("sms", "alert"))
    (chain,) = await jiaoying.rows(
        "select r.id, r.warning_id from recipients r join timers t on t.recipient_id = r.id"
        " order by r.id limit 1"
    )
    now = datetime.now(UTC)
    async with jiaoying.db.writer.connect() as scheduler, jiaoying.db.writer.connect() as answer:
        await scheduler.begin()
        await scheduler.execute(
            text("select recipient_id from timers where recipient_id = :id for update"),
            {"id": chain.id},
        )
        await answer.begin()
        assert await lock_warnings(answer, [chain.warning_id])
        waiting = asyncio.create_task(lock_chains(answer, [chain.id]))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the answer waits for the timer the scheduler holds"

        async with asyncio.timeout(5):  # PostgreSQL reports a deadlock after 1 s
            claimed = await claim_sends(
                scheduler,
                [
                    {
                        "key": "lock-order-test",
                        "warning_id": chain.warning_id,
                        "recipient_id": chain.id,
                        "summons_id": None,
                        "person_id": None,
                        "zone_id": None,
                        "channel": "sms",
                        "kind": "alert",
                        "occasion": "test",
                        "chain_revision": 0,
                        "status": "claimed",
                        "owner": "test",
                        "resends": 0,
                        "payload": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            assert list(claimed) == ["lock-order-test"]
            await scheduler.commit()
            assert await waiting, "the answer gets its chains once the claim is committed"
        await answer.commit()
