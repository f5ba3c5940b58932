"""One channel's gate: at most `concurrency` sends at once and `per_second` a second (the
provider's contract, `JIAOYING_SEND_RATES`), and the next place goes to the most urgent
send waiting (`core/priority`: the highest level, warnings of a level in turn), not to
the one that came first. With first-come places, a red warning's sends queued behind a
county-wide blue fan-out for as long as the provider took to send it.

The rate is a leaky bucket: up to a second's worth at once, then `per_second` a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from dispatcher.core.priority import Lanes


class ChannelGate:
    def __init__(
        self,
        concurrency: int,
        per_second: float,
        *,
        on_grant: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1 or per_second <= 0:
            raise ValueError("a channel gate needs concurrency ≥ 1 and a rate above 0")
        self.concurrency = concurrency
        self.per_second = per_second
        self._free = concurrency
        self._burst = max(1.0, per_second)
        self._level = 0.0
        self._clock = clock
        self._leaked_at = clock()
        self._waiting: Lanes[asyncio.Future[None]] = Lanes()
        self._queued = 0  # waiters not yet let through nor given up (cancelled ones linger)
        self._timer: asyncio.TimerHandle | None = None
        self._on_grant = on_grant

    @property
    def queued(self) -> int:
        """Sends waiting for a place or for the rate."""
        return self._queued

    @asynccontextmanager
    async def place(self, rank: int, lane: str) -> AsyncIterator[None]:
        """Hold one of the channel's places, given in order of `rank` (higher first), then
        in turn between `lane`s, then first come first served."""
        await self._enter(rank, lane)
        try:
            yield
        finally:
            self._free += 1
            self._grant()

    async def _enter(self, rank: int, lane: str) -> None:
        if not self._queued and self._free and self._wait_for_rate() == 0.0:
            self._let_through()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.push(waiter, rank=rank, lane=lane)
        self._queued += 1
        self._grant()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._queued -= 1
            else:  # let through just as it was cancelled: give the place back
                self._free += 1
                self._grant()
            raise

    def _grant(self) -> None:
        granted = False
        while self._free and self._queued:
            wait = self._wait_for_rate()
            if wait > 0.0:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(wait, self._tick)
                break
            waiter = self._waiting.pop()
            if waiter.done():  # cancelled while waiting: already uncounted
                continue
            self._queued -= 1
            self._let_through()
            waiter.set_result(None)
            granted = True
        if granted and self._on_grant is not None:
            self._on_grant()

    def _tick(self) -> None:
        self._timer = None
        self._grant()

    def _let_through(self) -> None:
        self._free -= 1
        self._level += 1.0

    def _wait_for_rate(self) -> float:
        """Seconds until the bucket has room for one more send (0.0: now)."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._leaked_at) * self.per_second)
        self._leaked_at = now
        excess = self._level + 1.0 - self._burst
        return excess / self.per_second if excess > 0.0 else 0.0
