"""Sends to a batch-capable channel gathered into the provider's batch requests.

Every claimed send stays its own order in the sender (its own window place, retries and
result); only the provider call is shared. A notice for a `BatchChannel` waits here at
most `linger` seconds, or until `max_batch` notices have come, and then one
`send_batch` request carries all of them: a fan-out of 30,000 SMS on Alibaba Cloud is
300 requests, each under the sender's per-request rate limit and breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from channels.base import BatchChannel, DeliveryError, Notice, Receipt

__all__ = ["BatchSend", "Batcher"]

BatchSend = Callable[[BatchChannel, Sequence[Notice]], Awaitable[list[Receipt | DeliveryError]]]
_Waiting = tuple[Notice, "asyncio.Future[Receipt]"]


class Batcher:
    """Collects notices per channel; `send` returns this notice's own outcome."""

    def __init__(self, send_batch: BatchSend, *, linger: float = 0.005) -> None:
        self._send_batch = send_batch
        self._linger = linger
        self._waiting: dict[str, list[_Waiting]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._requests: set[asyncio.Task[None]] = set()

    async def send(self, channel: BatchChannel, notice: Notice) -> Receipt:
        """Send `notice` in the next batch request of `channel`; raises its failure."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        waiting = self._waiting.setdefault(channel.name, [])
        waiting.append((notice, future))
        if len(waiting) >= channel.max_batch:
            self._flush(channel)
        elif len(waiting) == 1:
            self._timers[channel.name] = loop.call_later(self._linger, self._flush, channel)
        return await future

    def _flush(self, channel: BatchChannel) -> None:
        timer = self._timers.pop(channel.name, None)
        if timer is not None:
            timer.cancel()
        batch = self._waiting.pop(channel.name, [])
        # A sender cancelled while waiting (shutdown) has nothing to send.
        batch = [(notice, future) for notice, future in batch if not future.done()]
        if not batch:
            return
        task = asyncio.create_task(self._request(channel, batch))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _request(self, channel: BatchChannel, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._send_batch(channel, [notice for notice, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"{channel.name}: send_batch answered {len(outcomes)} of {len(batch)}"
                )
        except BaseException as error:  # every waiting sender hears of it, as from `send`
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, DeliveryError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
