"""Performing claimed sends: bounded per channel, rate-limited, retried when worth it.

Each channel's places and rate are handed out by its gate (`engine/channel_gate.py`) to the
most urgent send waiting: a red warning's before a blue one's queued earlier. And the sender
takes no more sends than a capped channel can start in `AHEAD` seconds (`room`), so that
its window is not filled with low-level sends waiting for the rate while a red warning's
wait to be claimed at all.

Two retry loops, each with one job: here a short tenacity retry around one provider call,
on `TransientDeliveryError` only, honouring `retry_after`; above it, the policy's own
re-notify and escalation steps. The number of sends in flight (claimed and not yet
recorded) is bounded by `window`: the most a crash can leave with an unknown outcome.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay

from channels.base import (
    BatchChannel,
    Channel,
    DeliveryError,
    Notice,
    PermanentDeliveryError,
    Reason,
    Receipt,
    SendResult,
    Status,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from dispatcher.core.priority import rank_of
from dispatcher.engine.batching import Batcher
from dispatcher.engine.breaker import Breaker, ChannelDown
from dispatcher.engine.channel_gate import ChannelGate

log = structlog.get_logger("jiaoying.sender")

# Seconds of a channel's rate the sender takes in ahead: enough that the queue at a gate
# never runs dry between two of the scheduler's batches, short enough that a red warning
# claimed behind them waits no longer than this for its turn to be claimed.
AHEAD = 0.5


@dataclass(frozen=True, slots=True)
class Order:
    """A claimed send: attempt row `attempt_id`, to perform once."""

    attempt_id: int
    notice: Notice
    recipient_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    concurrency: int = 50
    per_second: float = 200.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    within_seconds: float = 60.0
    backoff_max: float = 20.0


_STATUS = {Status.ACCEPTED: "sent", Status.DELIVERED: "delivered", Status.SIMULATED: "simulated"}


class Sender:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        report: Callable[[SendResult], Awaitable[None]],
        *,
        limits: Mapping[str, ChannelLimits] | None = None,
        window: int = 256,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._channels = channels
        # Checked once: isinstance against a runtime-checkable Protocol walks its members
        # each time, 2 % of a step's CPU when it ran per send.
        self._batching = {name: isinstance(ch, BatchChannel) for name, ch in channels.items()}
        self._report = report
        self._retry = retry
        limits = limits or {}
        self._freed = asyncio.Event()
        self._gates = {
            name: ChannelGate(
                limits.get(name, ChannelLimits()).concurrency,
                limits.get(name, ChannelLimits()).per_second,
            )
            for name in channels
        }
        self._ahead = {
            name: max(1, math.ceil(gate.per_second * AHEAD)) for name, gate in self._gates.items()
        }
        self._breakers = {name: Breaker(name) for name in channels}
        self._batches = Batcher(self._send_batch)
        self._window_size = window
        self._window = asyncio.Semaphore(window)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting = 0  # orders handed to submit() that wait for a place in the window
        self._unstarted = dict.fromkeys(channels, 0)  # submitted, first try not yet begun

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def window(self) -> int:
        """The most sends in flight at once."""
        return self._window_size

    @property
    def room(self) -> int:
        """Places left in the window once every order already submitted has one."""
        return self._window_size - len(self._tasks) - self._waiting

    def budget(self, *, urgent: bool = False) -> dict[str, int]:
        """How many more sends each channel takes now: what its rate starts in `AHEAD`
        seconds, less the sends of it already taken that have not yet started. `urgent`
        (a claim that may hold a red warning's sends, which the gates let through before
        the queued ones): half as much again, so such a claim never finds no room."""
        return {
            name: max(0, ahead + (ahead // 2 if urgent else 0) - self._unstarted[name])
            for name, ahead in self._ahead.items()
        }

    async def wait_for_room(self, places: int, *, unless: Callable[[], bool] = bool) -> None:
        """Return when at least `places` (capped at the window) are free, and no channel
        has more than half its `AHEAD` seconds of sends still waiting to start; or as
        soon as `unless()` is true (checked again after `nudge()`)."""
        places = min(places, self._window_size)
        while not unless() and (
            self.room < places
            or any(self._unstarted[name] > ahead // 2 for name, ahead in self._ahead.items())
        ):
            self._freed.clear()
            await self._freed.wait()

    def nudge(self) -> None:
        """Make `wait_for_room` look at its `unless` again."""
        self._freed.set()

    async def submit(self, orders: Sequence[Order]) -> None:
        """Start every order; waits while the in-flight window is full (backpressure)."""
        remaining = len(orders)
        self._waiting += remaining
        try:
            for order in orders:
                await self._window.acquire()
                remaining -= 1
                self._waiting -= 1
                if order.notice.channel in self._unstarted:
                    self._unstarted[order.notice.channel] += 1
                task = asyncio.create_task(self._deliver(order))
                self._tasks.add(task)
                task.add_done_callback(self._finished)
        finally:
            self._waiting -= remaining  # only if cancelled while waiting

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()

    async def drain(self, grace: float) -> bool:
        """Wait for the sends in flight; False if some were still running at the deadline."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        return not pending

    async def _deliver(self, order: Order) -> None:
        notice = order.notice
        started = time.monotonic()
        try:
            result = await self._attempt(order)
        except PermanentDeliveryError as error:
            result = self._failed(order, "rejected", error)
        except TransientDeliveryError as error:
            result = self._failed(order, "failed", error)
        except Exception as error:  # a bug in one adapter must not stop the others
            log.exception("channel adapter crashed", channel=notice.channel, key=notice.key)
            result = self._failed(
                order, "failed", DeliveryError(Reason.SERVER_ERROR, type(error).__name__)
            )
        try:
            # The window counts a send until its outcome is recorded: that is the most a
            # crash can leave claimed-but-sent, i.e. possibly sent twice after a restart.
            await self._report(_timed(result, time.monotonic() - started))
        except Exception:
            log.exception("send result not recorded; it stays claimed", key=notice.key)
        finally:
            self._window.release()

    async def _attempt(self, order: Order) -> SendResult:
        notice = order.notice
        channel = self._channels.get(notice.channel)
        if channel is None:
            raise PermanentDeliveryError(
                Reason.NO_ADDRESS, f"no {notice.channel} channel configured"
            )
        started = time.monotonic()
        try:
            receipt = await self._send(channel, notice, first=True)
        except TransientDeliveryError as error:
            # The retry loop is built only for a send whose first try failed: nearly all go
            # through at once, and tenacity's bookkeeping on every send cost a tenth of a
            # fan-out's CPU.
            if not _worth_retrying(error):
                raise
            receipt = await self._send_again(channel, notice, error, started)
        return SendResult(
            attempt_id=order.attempt_id,
            recipient_id=order.recipient_id,
            channel=notice.channel,
            status=_STATUS[receipt.status],
            provider_id=receipt.provider_id,
        )

    async def _send(self, channel: Channel, notice: Notice, *, first: bool = False) -> Receipt:
        """One try; `first`: the send's first, which counts as started once it is let
        through its channel's gate (or refused before it; in a batch, once that is done)."""
        if self._batching[notice.channel]:
            try:
                return await self._batches.send(cast(BatchChannel, channel), notice)
            finally:
                if first:
                    self._started(notice.channel)
        breaker = self._breakers[notice.channel]
        try:
            breaker.check()  # fail now rather than queue behind a provider that stopped answering
            async with self._gates[notice.channel].place(rank_of(notice.level), notice.warning_id):
                if first:
                    first = False
                    self._started(notice.channel)
                trial = breaker.before_send()
                try:
                    receipt = await channel.send(notice)
                except DeliveryError as error:
                    breaker.answered(error, trial=trial)
                    raise
                except BaseException:
                    breaker.abandoned(trial=trial)
                    raise
        finally:
            if first:
                self._started(notice.channel)
        breaker.answered(None, trial=trial)
        return receipt

    def _started(self, channel: str) -> None:
        self._unstarted[channel] -= 1
        self._freed.set()

    async def _send_batch(
        self, channel: BatchChannel, notices: Sequence[Notice]
    ) -> list[Receipt | DeliveryError]:
        """One batch request, as `_send` makes one request: breaker, gate (the batch's
        most urgent notice gives its place in line)."""
        breaker = self._breakers[channel.name]
        breaker.check()
        rank = max(rank_of(notice.level) for notice in notices)
        async with self._gates[channel.name].place(rank, notices[0].warning_id):
            trial = breaker.before_send()
            try:
                outcomes = await channel.send_batch(notices)
            except DeliveryError as error:
                breaker.answered(error, trial=trial)
                raise
            except BaseException:
                breaker.abandoned(trial=trial)
                raise
        breaker.answered(None, trial=trial)
        return outcomes

    async def _send_again(
        self, channel: Channel, notice: Notice, failed: TransientDeliveryError, started: float
    ) -> Receipt:
        """Tries 2 … `attempts` of a send whose first try (at `started`) failed with
        `failed`; none starts after `within_seconds`. Raises the last try's failure."""
        if self._retry.attempts < 2 or time.monotonic() - started >= self._retry.within_seconds:
            raise failed
        await asyncio.sleep(self._backoff(failed, 1))
        budget = self._retry.within_seconds - (time.monotonic() - started)
        retrying = AsyncRetrying(
            retry=retry_if_exception(_worth_retrying),
            # tenacity counts from the second try: its try n is the send's try n + 1.
            wait=lambda state: self._backoff(
                state.outcome.exception() if state.outcome else None, state.attempt_number + 1
            ),
            stop=stop_after_attempt(self._retry.attempts - 1) | stop_after_delay(max(0.0, budget)),
            reraise=True,
        )
        async for try_ in retrying:
            with try_:
                return await self._send(channel, notice)
        raise failed  # not reached: the loop returns a receipt or re-raises

    def _backoff(self, error: BaseException | None, tries: int) -> float:
        """Seconds to wait after `tries` failed tries: the provider's Retry-After, else
        exponential with full jitter (up to 0.5 s, 1 s, 2 s … `backoff_max`)."""
        if isinstance(error, TransientDeliveryError) and error.retry_after is not None:
            return min(error.retry_after, self._retry.within_seconds)
        ceiling = min(self._retry.backoff_max, 0.5 * 2 ** (tries - 1))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not a secret

    @staticmethod
    def _failed(order: Order, status: str, error: DeliveryError) -> SendResult:
        log.warning(
            "send failed",
            channel=order.notice.channel,
            key=order.notice.key,
            status=status,
            reason=str(error.reason),
            detail=error.detail,
        )
        return SendResult(
            attempt_id=order.attempt_id,
            recipient_id=order.recipient_id,
            channel=order.notice.channel,
            status=status,
            reason=str(error.reason),
            detail=error.detail[:500],
        )


def _worth_retrying(error: BaseException) -> bool:
    """Transient, not possibly accepted already (a retry must not send twice), and not
    refused by the channel's breaker (a retry would wait out another timeout)."""
    return isinstance(error, TransientDeliveryError) and not isinstance(
        error, UncertainDeliveryError | ChannelDown
    )


def _timed(result: SendResult, seconds: float) -> SendResult:
    return SendResult(
        attempt_id=result.attempt_id,
        recipient_id=result.recipient_id,
        channel=result.channel,
        status=result.status,
        provider_id=result.provider_id,
        reason=result.reason,
        detail=result.detail,
        seconds=seconds,
    )
