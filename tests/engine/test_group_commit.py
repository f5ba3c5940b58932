"""Group commit: replies that arrive together share a transaction, and fail alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.store.db import Database
from dispatcher.store.group_commit import GroupCommit
from dispatcher.store.schema import dead_letters


class Recorder:
    """Stores item n as a row (any table will do) and notes the transaction it ran in."""

    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self.bad = bad
        self.transactions: list[AsyncConnection] = []

    async def apply(self, conn: AsyncConnection, items: list[int]) -> list[int]:
        if conn not in self.transactions:
            self.transactions.append(conn)
        bad = self.bad.intersection(items)
        if bad:
            raise ValueError(f"bad item {min(bad)}")
        row = {"received_at": datetime.now(UTC), "source": "test", "content_type": "x"}
        await conn.execute(
            insert(dead_letters),
            [{**row, "reason": f"item {n}", "path": "", "size": 0, "excerpt": b""} for n in items],
        )
        return [n * 10 for n in items]


async def _stored(db: Database) -> list[str]:
    async with db.reader.connect() as conn:
        return list((await conn.execute(select(dead_letters.c.reason))).scalars())


async def test_items_arriving_together_share_a_transaction(db: Database) -> None:
    recorder = Recorder()
    commits = GroupCommit(db, recorder.apply, max_batch=50)
    results = await asyncio.gather(*(commits.run(n) for n in range(100)))
    assert results == [n * 10 for n in range(100)], "each caller gets its own result"
    assert sorted(await _stored(db)) == sorted(f"item {n}" for n in range(100))
    assert len(recorder.transactions) <= 3, "100 replies at once are not 100 commits"


async def test_a_bad_item_fails_alone(db: Database) -> None:
    commits = GroupCommit(db, Recorder(bad=frozenset({7})).apply)
    outcomes = await asyncio.gather(*(commits.run(n) for n in range(20)), return_exceptions=True)
    assert isinstance(outcomes[7], ValueError)
    assert [o for n, o in enumerate(outcomes) if n != 7] == [n * 10 for n in range(20) if n != 7]
    assert sorted(await _stored(db)) == sorted(f"item {n}" for n in range(20) if n != 7)


async def test_a_result_is_returned_only_once_it_is_committed(db: Database) -> None:
    commits = GroupCommit(db, Recorder().apply)
    assert await commits.run(1) == 10
    assert await _stored(db) == ["item 1"], "visible to another connection: committed"


class Batches(Recorder):
    """A Recorder that also keeps each batch as it was applied."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    async def apply(self, conn: AsyncConnection, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        return await super().apply(conn, items)


async def _later(commits: GroupCommit[int, int], item: int, after: float) -> int:
    await asyncio.sleep(after)
    return await commits.run(item)


async def test_under_load_a_batch_waits_for_the_items_close_behind(db: Database) -> None:
    recorder = Batches()
    commits = GroupCommit(db, recorder.apply, linger=0.2)
    await asyncio.gather(*(commits.run(n) for n in (1, 2, 3)))  # a burst: now under load
    await asyncio.gather(commits.run(4), _later(commits, 5, 0.05))
    assert recorder.batches == [[1, 2, 3], [4, 5]]


async def test_an_item_that_comes_alone_is_committed_at_once(db: Database) -> None:
    recorder = Batches()
    commits = GroupCommit(db, recorder.apply, linger=0.2)
    await commits.run(1)
    await asyncio.gather(commits.run(2), _later(commits, 3, 0.05))
    assert recorder.batches == [[1], [2], [3]], "a lone reply waited for company"


async def test_callers_waiting_out_the_linger_are_not_left_waiting_at_shutdown(
    db: Database,
) -> None:
    commits = GroupCommit(db, Batches().apply, linger=5.0)
    await asyncio.gather(*(commits.run(n) for n in (1, 2)))  # under load: the next waits
    waiting = asyncio.ensure_future(commits.run(3))
    await asyncio.sleep(0.05)
    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__ == "GroupCommit._commit_waiting":  # type: ignore[union-attr]
            task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 1.0)


async def test_reads_arriving_together_share_a_reader_and_leave_the_writer_free(
    db: Database,
) -> None:
    await GroupCommit(db, Recorder().apply).run(1)  # a row to read
    connections: list[AsyncConnection] = []

    async def look_up(conn: AsyncConnection, items: list[int]) -> list[int]:
        if conn not in connections:
            connections.append(conn)
        stored = list((await conn.execute(select(dead_letters.c.reason))).scalars())
        return [len(stored) * n for n in items]

    lookups = GroupCommit(db, look_up, max_batch=50, read_only=True)
    async with db.writer.begin():  # SQLite's write lock held all along: reads still pass
        results = await asyncio.wait_for(asyncio.gather(*(lookups.run(n) for n in range(100))), 5.0)
    assert results == list(range(100)), "each caller gets its own result"
    assert len(connections) <= 3, "100 lookups at once are not 100 connections"
