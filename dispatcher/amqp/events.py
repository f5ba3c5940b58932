"""Events for producers: the outbox drained to `jiaoying.events`, with publisher confirms.

An event row is written by the same transaction as the change it reports
(`dispatcher.store.outbox`); `EventPublisher` sends the pending rows in id order and marks
them published only after the broker confirmed them. A broker outage delays events; it
never loses them.

Delivery is at least once, not exactly once: a crash between the broker's confirm and the
mark, or a confirm lost with its connection, sends an event again. Each event carries the
message id `evt-<outbox id>`, the same on every send, and consumers dedupe on it. Two
processes draining one database (PostgreSQL replicas) may both send a row for the same
reason; the message id makes that harmless too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

import structlog
from aio_pika import DeliveryMode, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractRobustChannel,
)
from sqlalchemy import select, update
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from dispatcher.amqp.consumer import AMQP_TROUBLE
from dispatcher.amqp.topology import EVENTS_EXCHANGE, declare_events_exchange
from dispatcher.store.db import Database
from dispatcher.store.errors import describe_error, is_transient
from dispatcher.store.schema import outbox

__all__ = ["ChannelFactory", "EventPublisher", "EventsNotPublished", "event_message"]

log = structlog.get_logger("jiaoying.events")

ChannelFactory = Callable[[], Awaitable[AbstractChannel]]

_RETRY_MULTIPLIER = 0.5


class EventsNotPublished(Exception):
    """Some events of a batch were not confirmed by the broker; they stay pending."""

    def __init__(self, failed: int, attempted: int, first: BaseException) -> None:
        super().__init__(
            f"{failed} of {attempted} events not confirmed by the broker"
            f" (first: {describe_error(first)})"
        )
        self.failed = failed
        self.attempted = attempted


def event_message(event_id: int, routing_key: str, body: Any, created_at: datetime) -> Message:
    """The AMQP message for outbox row `event_id`: persistent JSON, message id `evt-<id>`."""
    return Message(
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=f"evt-{event_id}",
        timestamp=created_at,
        type=routing_key.partition(".")[0],
        app_id="jiaoying",
    )


class EventPublisher:
    """Drains the outbox to the topic exchange `jiaoying.events`.

    `connection_or_channel_factory` is an aio-pika connection (the publisher opens its own
    channel with publisher confirms) or a coroutine function returning a channel that has
    them. With a robust connection the channel comes back by itself after an outage; a
    plain channel that closed is replaced by a new one on the next try.
    """

    def __init__(
        self,
        connection_or_channel_factory: AbstractConnection | ChannelFactory,
        db: Database,
        clock: Callable[[], datetime],
        *,
        batch: int = 200,
        idle: float = 1.0,
        retry_backoff_max: float = 10.0,
        publish_timeout: float = 10.0,
    ) -> None:
        if isinstance(connection_or_channel_factory, AbstractConnection):
            connection = connection_or_channel_factory

            async def open_channel() -> AbstractChannel:
                return await connection.channel(publisher_confirms=True)

            self._open_channel: ChannelFactory = open_channel
        else:
            self._open_channel = connection_or_channel_factory
        self._db = db
        self._clock = clock
        self._batch = batch
        self._idle = idle
        self._retry_backoff_max = retry_backoff_max
        self._publish_timeout = publish_timeout
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._wakeup = asyncio.Event()
        # One drain at a time per process: two would send the same rows twice.
        self._draining = asyncio.Lock()
        self._stopping = False

    def stop(self) -> None:
        """End `run()` after the drain in progress (never mid-transaction)."""
        self._stopping = True
        self._wakeup.set()

    def wake(self) -> None:
        """Publish promptly: call after committing a transaction that wrote events."""
        self._wakeup.set()

    async def run(self) -> None:
        """Publish pending events until `stop()`: at once after `wake()`, else every
        `idle` seconds. Trouble is logged and retried with jittered backoff (at most
        `retry_backoff_max` seconds apart) and never ends the loop, for a publisher that
        stopped would silently let the outbox grow.
        """
        while not self._stopping:
            self._wakeup.clear()
            retrying = AsyncRetrying(
                # Broad on purpose: this loop outlives every single failure; the log tells
                # broker and store trouble (warning) from anything else (traceback).
                retry=retry_if_exception_type(Exception),
                wait=wait_random_exponential(
                    multiplier=_RETRY_MULTIPLIER, max=self._retry_backoff_max
                ),
                before_sleep=_log_failure,
                reraise=True,
            )
            published: int = await retrying(self.publish_pending)
            if published < self._batch:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._idle)

    async def publish_pending(self) -> int:
        """Publish up to `batch` pending events, oldest first; returns how many were
        published and marked (0 when none was pending).

        The events are published concurrently and their confirms gathered; those the
        broker confirmed are marked in one transaction. Raises `EventsNotPublished` when
        any was not confirmed, or no channel could be opened (the marked ones stay marked,
        the rest pending), and SQLAlchemy errors from the store.
        """
        async with self._draining:
            async with self._db.reader.connect() as conn:
                result = await conn.execute(
                    select(outbox.c.id, outbox.c.routing_key, outbox.c.body, outbox.c.created_at)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch)
                )
                rows = result.all()
            if not rows:
                return 0
            try:
                exchange = await self._events_exchange()
            except Exception as error:
                # aio-pika says "no broker" in many ways (RuntimeError for a closed
                # connection, AMQP errors, timeouts); to the caller they are one outcome.
                raise EventsNotPublished(len(rows), len(rows), error) from error
            # Not mandatory: an event no queue is bound for is dropped by the broker, as a
            # topic exchange promises; it is no reason to hold the outbox up.
            outcomes = await asyncio.gather(
                *(
                    exchange.publish(
                        event_message(row.id, row.routing_key, row.body, row.created_at),
                        routing_key=row.routing_key,
                        mandatory=False,
                        timeout=self._publish_timeout,
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            confirmed = [
                row.id
                for row, outcome in zip(rows, outcomes, strict=True)
                if not isinstance(outcome, BaseException)
            ]
            if confirmed:
                async with self._db.writer.begin() as conn:
                    await conn.execute(
                        update(outbox)
                        .where(outbox.c.id.in_(confirmed))
                        .values(published_at=self._clock())
                    )
            failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            if failures:
                raise EventsNotPublished(len(failures), len(rows), failures[0]) from failures[0]
            log.debug("events published", count=len(confirmed), last_id=confirmed[-1])
            return len(confirmed)

    async def close(self) -> None:
        """Close the channel this publisher opened, if any."""
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None:
            with suppress(*AMQP_TROUBLE):
                await channel.close()

    async def _events_exchange(self) -> AbstractExchange:
        channel = self._channel
        if (
            channel is not None
            and channel.is_closed
            and not isinstance(channel, AbstractRobustChannel)
        ):
            # A plain channel never reopens; a robust one restores itself and the
            # exchange once its connection is back, so it is kept.
            await self.close()
        if self._exchange is None:
            # A robust connection's channel() waits for the broker; it must not hang a drain.
            async with asyncio.timeout(self._publish_timeout):
                channel = await self._open_channel()
                try:
                    self._exchange = await declare_events_exchange(channel)
                except BaseException:
                    with suppress(*AMQP_TROUBLE):
                        await channel.close()
                    raise
            self._channel = channel
        return self._exchange


def _log_failure(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    known = isinstance(error, (EventsNotPublished, *AMQP_TROUBLE)) or (
        error is not None and is_transient(error)
    )
    fields: dict[str, Any] = {
        "exchange": EVENTS_EXCHANGE,
        "attempt": state.attempt_number,
        "retry_in": round(state.upcoming_sleep, 3),
        "error": describe_error(error) if error is not None else None,
    }
    if known:
        log.warning("events not published; will retry", **fields)
    else:
        log.error("events not published: unexpected error; will retry", exc_info=error, **fields)
