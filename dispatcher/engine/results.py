"""Recording what became of each send, in batches, off the hot path.

Send results arrive one by one from many tasks; writing each in its own transaction
would make SQLite's single writer the bottleneck of a fan-out. The writer writes what
has gathered while the batch before it was being written: under load, batches grow by
themselves, and a lone result is written at once. It does not wait for more: a send
keeps its place in the sender's window until its result is committed, so a wait for more
would fill a fan-out's window with finished sends, and the window, not the provider,
would bound the SMS a second. A send that failed for good wakes its recipient's chain at once, so
the machine can escalate an unreachable person now.

Store trouble (a lost connection, a locked file) is waited out, with backoff: a result not
written leaves its send claimed, and a claim held by a live process is never resent nor
shown as done, so giving up would leave it so for good. Only at shutdown, or for an error
retrying cannot fix, are the senders told the result was not recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import bindparam, or_, update

from channels.base import SendResult
from dispatcher.engine.gong import gong_for_failed_plays
from dispatcher.engine.roster_book import RosterBook
from dispatcher.store.chains import mark_delivered, wake_recipients
from dispatcher.store.db import Database
from dispatcher.store.errors import describe_error, is_transient
from dispatcher.store.schema import attempts

log = structlog.get_logger("jiaoying.results")

_RETRY_FIRST = 0.2  # seconds before writing a batch again after store trouble
_RETRY_MAX = 5.0

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


@dataclass(frozen=True, slots=True)
class _Queued:
    result: SendResult
    written: asyncio.Future[None]


class ResultWriter:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        on_wake: Callable[[], None] = lambda: None,
        on_result: Callable[[SendResult], None] = lambda _: None,
        max_batch: int = 1000,
        rosters: RosterBook | None = None,
    ) -> None:
        self._db = db
        self._rosters = rosters  # given, a zone whose plays were all refused gets the gong
        self._clock = clock
        self._on_wake = on_wake
        self._on_result = on_result
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._stopping = False

    async def record(self, result: SendResult) -> None:
        """Return once `result` is committed: until then the send counts as in flight, and
        a crash would leave it claimed (made again after a restart)."""
        self._on_result(result)
        written = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Queued(result, written))
        await written

    def stop(self) -> None:
        """End `run()` once every result queued before this call is written (or, with the
        store in trouble, tried once more)."""
        self._stopping = True
        self._queue.put_nowait(None)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        """Write results in batches until `stop()`."""
        while True:
            first = await self._queue.get()
            batch, stopped = self._take(first, self._max_batch)
            if batch:
                await self._write_or_tell(batch)
            if stopped:
                return

    async def _write_or_tell(self, batch: list[_Queued]) -> None:
        """Write `batch`, waiting out store trouble; on any other error (or store trouble
        at shutdown) tell its senders, and go on with the next batch."""
        pause = _RETRY_FIRST
        while True:
            try:
                await self._write([queued.result for queued in batch])
            except Exception as error:
                if is_transient(error) and not self._stopping:
                    log.warning(
                        "store trouble; send results will be written again",
                        count=len(batch),
                        retry_in=pause,
                        error=describe_error(error),
                    )
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, _RETRY_MAX)
                    continue
                log.exception("could not record send results", count=len(batch))
                for queued in batch:
                    queued.written.set_exception(error)
                return
            for queued in batch:
                queued.written.set_result(None)
            return

    def _take(self, first: _Queued | None, limit: int) -> tuple[list[_Queued], bool]:
        """Up to `limit` queued results, and whether the stop mark was among them."""
        taken: list[_Queued] = []
        item = first
        while True:
            if item is None:
                return taken, True
            taken.append(item)
            if len(taken) >= limit or self._queue.empty():
                return taken, False
            item = self._queue.get_nowait()

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
        plays = [r for r in batch if r.channel == "broadcast"]
        refused = [r.attempt_id for r in plays if r.status == "rejected"]  # for good, at once
        async with self._db.writer.begin() as conn:
            # Timers before recipients, as the scheduler locks them (no lock cycle).
            if rejected:
                await wake_recipients(conn, rejected, now)
            if delivered:
                await mark_delivered(conn, delivered)
            await conn.execute(_RECORD, rows)
            gong = False
            if refused and self._rosters is not None:
                gong = await gong_for_failed_plays(conn, self._rosters, refused, now)
        if rejected or gong:
            self._on_wake()
