"""Recording what became of each send, in batches, off the hot path.

Send results arrive one by one from many tasks; writing each in its own transaction
would make SQLite's single writer the bottleneck of a fan-out. The writer gathers them
for a few milliseconds and writes them together. A send that failed for good wakes its
recipient's chain at once, so the machine can escalate an unreachable person now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import bindparam, or_, update

from dispatcher.sender import SendResult
from dispatcher.store.chains import mark_delivered, wake_recipients
from dispatcher.store.db import Database
from dispatcher.store.schema import attempts

log = structlog.get_logger("jiaoying.results")

# Never overwrite a later state: a delivery report can arrive before the send's result.
# (Plain comparisons, not IN: an expanding IN cannot run as executemany.)
_STILL_OPEN = or_(attempts.c.status == "claimed", attempts.c.status == "sent")

_RECORD = (
    update(attempts)
    .where(attempts.c.id == bindparam("aid"), _STILL_OPEN)
    .values(
        status=bindparam("status"),
        provider_id=bindparam("provider_id"),
        error_reason=bindparam("reason"),
        error_detail=bindparam("detail"),
        updated_at=bindparam("at"),
    )
)


class ResultWriter:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        on_wake: Callable[[], None] = lambda: None,
        on_result: Callable[[SendResult], None] = lambda _: None,
        max_batch: int = 1000,
        linger: float = 0.02,
    ) -> None:
        self._db = db
        self._clock = clock
        self._on_wake = on_wake
        self._on_result = on_result
        self._max_batch = max_batch
        self._linger = linger
        self._queue: asyncio.Queue[SendResult] = asyncio.Queue()

    def put(self, result: SendResult) -> None:
        self._on_result(result)
        self._queue.put_nowait(result)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write results until cancelled; on cancellation, write what is queued first."""
        try:
            while True:
                batch = [await self._queue.get()]
                await asyncio.sleep(self._linger)
                batch.extend(self._take(self._max_batch - 1))
                await self._write(batch)
        except asyncio.CancelledError:
            await self.flush()
            raise

    async def flush(self) -> None:
        while not self._queue.empty():
            await self._write(self._take(self._max_batch))

    def _take(self, limit: int) -> list[SendResult]:
        taken: list[SendResult] = []
        while len(taken) < limit and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def _write(self, batch: list[SendResult]) -> None:
        now = self._clock()
        rows = [
            {
                "aid": r.attempt_id,
                "status": r.status,
                "provider_id": r.provider_id,
                "reason": r.reason,
                "detail": r.detail,
                "at": now,
            }
            for r in batch
        ]
        delivered = [r.recipient_id for r in batch if r.status == "delivered" and r.recipient_id]
        rejected = [r.recipient_id for r in batch if r.status == "rejected" and r.recipient_id]
        async with self._db.writer.begin() as conn:
            await conn.execute(_RECORD, rows)
            if delivered:
                await mark_delivered(conn, delivered)
            if rejected:
                await wake_recipients(conn, rejected, now)
        if rejected:
            self._on_wake()
