"""The AMQP consumer: warnings from `jiaoying.dispatch` into the store, one ack point each.

A delivery is settled in exactly one place, `Consumer._settle`, from the outcome of
`Ingestor.ingest`; nothing else acks, nacks or rejects:

- stored (new chain, follow-up or duplicate) → ack. Ingest returns only after the commit,
  so an acked warning is durable (guarantee 1), and a redelivery after a crash or a lost
  ack is recognised as a duplicate (guarantee 2).
- rejected (bad input, already recorded as a dead-letter row) → the original body is
  published, with confirms, to `jiaoying.dead` with the reason in `x-jiaoying-*` headers,
  then acked (guarantee 4). A plain reject would dead-letter it too, but without a
  reason. Should that publish fail, the delivery is requeued.
- store trouble (`is_transient`) → ingest is retried in the handler, with jittered
  backoff and no limit, until it succeeds or `stop()` is called, which requeues it.
  Requeueing at once would spend the quorum queue's delivery limit, and a database
  outage would then dead-letter good warnings.
- anything else, a bug → requeued and logged with its traceback; after `DELIVERY_LIMIT`
  deliveries the broker moves the message to `jiaoying.dead`, so it cannot block the
  queue forever.

Ingests run one at a time in delivery order: an Update published right behind its Alert
must find the Alert stored, and two follow-ups of one chain must not race each other's
revision. Prefetch still keeps the next deliveries at hand; SQLite serialises writers
anyway.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any, Protocol

import structlog
from aio_pika import DeliveryMode, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    ConsumerTag,
    HeadersType,
)
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from dispatcher.amqp.topology import DISPATCH_QUEUE, Topology, declare_topology
from dispatcher.engine.ingest import Ingested, Rejected
from dispatcher.store.errors import describe_error, is_transient

__all__ = ["AMQP_TROUBLE", "SOURCE", "Consumer", "WarningIntake"]

log = structlog.get_logger("jiaoying.amqp")

SOURCE = "amqp"
PUBLISH_TIMEOUT = 10.0
# A robust connection's channel() waits for a reconnect; a metrics scrape must not.
_LAG_TIMEOUT = 5.0
# A header must fit in one AMQP frame; the dead-letter row keeps the full reason.
_MAX_HEADER_TEXT = 1024
_RETRY_MULTIPLIER = 0.2
# How long cancelled handlers get to unwind before the channel is closed under them.
_CANCEL_WAIT = 1.0
# How aio-pika says the broker or the channel is gone.
AMQP_TROUBLE: tuple[type[Exception], ...] = (
    AMQPError,
    ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)


class WarningIntake(Protocol):
    """What the consumer needs of `dispatcher.engine.ingest.Ingestor`."""

    async def ingest(self, body: bytes, content_type: str, source: str) -> Ingested: ...


class _Stopping(Exception):
    """Raised in a handler waiting to retry when `Consumer.stop()` is called."""


class Consumer:
    """Consumes `jiaoying.dispatch` and stores each warning through `ingestor`.

    `start()` once, `stop(grace)` once; a stopped consumer is not restarted. With a robust
    connection, aio-pika re-declares the topology and resumes consuming after a reconnect;
    deliveries in flight when the connection dropped are redelivered by the broker.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        ingestor: WarningIntake,
        *,
        prefetch: int = 16,
        retry_backoff_max: float = 5.0,
    ) -> None:
        self._connection = connection
        self._ingestor = ingestor
        self._prefetch = prefetch
        self._retry_backoff_max = retry_backoff_max
        self._channel: AbstractChannel | None = None
        self._topology: Topology | None = None
        self._consumer_tag: ConsumerTag | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._ingest_lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    @property
    def ready(self) -> bool:
        """True while the connection and channel are open and deliveries are consumed."""
        return (
            self._consumer_tag is not None
            and not self._stopping.is_set()
            and self._channel is not None
            and not self._channel.is_closed
            and not self._connection.is_closed
        )

    @property
    def in_flight(self) -> int:
        """Deliveries being handled: received, not yet settled."""
        return len(self._handlers)

    async def start(self) -> None:
        """Open a channel with publisher confirms, declare the topology, start consuming.

        Raises RuntimeError if already started; AMQP errors propagate.
        """
        if self._channel is not None:
            raise RuntimeError("the consumer was already started")
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        self._topology = await declare_topology(channel)
        self._consumer_tag = await self._topology.dispatch.consume(self._on_message)
        log.info("consumer started", queue=DISPATCH_QUEUE, prefetch=self._prefetch)

    async def stop(self, grace: float) -> None:
        """Stop taking deliveries, let those in flight finish for up to `grace` seconds,
        then close the channel: whatever is still unacked goes back to the queue.

        Handlers waiting out store trouble requeue their delivery at once.
        """
        self._stopping.set()
        channel, topology, tag = self._channel, self._topology, self._consumer_tag
        self._consumer_tag = None
        if channel is None:
            return
        if topology is not None and tag is not None and not channel.is_closed:
            try:
                await topology.dispatch.cancel(tag, timeout=grace)
            except AMQP_TROUBLE as error:
                log.warning("consumer cancel failed", error=describe_error(error))
        handlers = set(self._handlers)
        if handlers:
            _, late = await asyncio.wait(handlers, timeout=grace)
            if late:
                log.warning("handlers outlived the grace period; cancelled", count=len(late))
                for task in late:
                    task.cancel()
                await asyncio.wait(late, timeout=_CANCEL_WAIT)
        with suppress(*AMQP_TROUBLE):
            await channel.close()
        log.info("consumer stopped", queue=DISPATCH_QUEUE)

    async def consumer_lag(self) -> int:
        """Messages ready in `jiaoying.dispatch`, not yet delivered to any consumer.

        Raises TimeoutError when the broker does not answer within a few seconds.

        Uses a short-lived channel: a passive declare of a missing queue closes the
        channel it was made on, and that must not be the consuming one.
        """
        async with asyncio.timeout(_LAG_TIMEOUT):
            channel = await self._connection.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(DISPATCH_QUEUE, passive=True)
            count = queue.declaration_result.message_count
            return int(count) if count is not None else 0
        finally:
            with suppress(*AMQP_TROUBLE):
                await channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        with structlog.contextvars.bound_contextvars(
            message_id=message.message_id,
            routing_key=message.routing_key,
            redelivered=message.redelivered,
            # Set by quorum queues; the broker dead-letters past DELIVERY_LIMIT.
            delivery_count=(message.headers or {}).get("x-delivery-count", 0),
        ):
            await self._settle(message)

    async def _settle(self, message: AbstractIncomingMessage) -> None:
        """The single ack point: map the outcome of one ingest to ack, dead letter or requeue."""
        try:
            ingested = await self._ingest(message)
        except Rejected as rejected:
            if await self._dead_letter(message, rejected):
                await self._ack(message)
            else:
                await self._requeue(message)
            return
        except _Stopping:
            log.info("delivery requeued: the consumer is stopping")
            await self._requeue(message)
            return
        except Exception as error:
            if self._stopping.is_set() and is_transient(error):
                log.info("delivery requeued: the consumer is stopping", error=describe_error(error))
            else:
                log.exception("ingest failed unexpectedly; delivery requeued")
            await self._requeue(message)
            return
        log.debug("delivery stored", warning_id=ingested.warning_id, outcome=ingested.outcome)
        await self._ack(message)

    async def _ingest(self, message: AbstractIncomingMessage) -> Ingested:
        async with self._ingest_lock:
            if self._stopping.is_set():
                raise _Stopping
            retrying = AsyncRetrying(
                retry=retry_if_exception(is_transient),
                wait=wait_random_exponential(
                    multiplier=_RETRY_MULTIPLIER, max=self._retry_backoff_max
                ),
                stop=self._stop_requested,
                sleep=self._pause,
                before_sleep=_log_retry,
                reraise=True,
            )
            ingested: Ingested = await retrying(
                self._ingestor.ingest, message.body, message.content_type or "", SOURCE
            )
            return ingested

    def _stop_requested(self, _state: RetryCallState) -> bool:
        return self._stopping.is_set()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` before the next try; raise `_Stopping` as soon as stop() is called."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise _Stopping

    async def _dead_letter(self, message: AbstractIncomingMessage, rejected: Rejected) -> bool:
        """Copy `message` to `jiaoying.dead` with the reason; True once the broker confirmed."""
        if self._topology is None:
            raise RuntimeError("a delivery arrived before start()")
        headers: HeadersType = dict(message.headers or {})
        headers.update(
            {
                "x-jiaoying-reason": rejected.error.reason[:_MAX_HEADER_TEXT],
                "x-jiaoying-path": rejected.error.path[:_MAX_HEADER_TEXT],
                "x-jiaoying-dead-letter-id": rejected.dead_letter_id,
                "x-jiaoying-source-routing-key": message.routing_key or "",
            }
        )
        copy = Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        try:
            # Mandatory (the default): with no queue bound to jiaoying.dead the copy would
            # vanish; the broker returns it instead, and the delivery is requeued.
            await self._topology.dead.publish(
                copy, routing_key=message.routing_key or "", timeout=PUBLISH_TIMEOUT
            )
        except AMQP_TROUBLE as error:
            log.warning(
                "dead letter not confirmed; delivery requeued",
                dead_letter_id=rejected.dead_letter_id,
                error=describe_error(error),
            )
            return False
        log.info(
            "delivery dead-lettered",
            dead_letter_id=rejected.dead_letter_id,
            reason=rejected.error.reason,
            path=rejected.error.path,
        )
        return True

    async def _ack(self, message: AbstractIncomingMessage) -> None:
        try:
            await message.ack()
        except AMQP_TROUBLE as error:
            # The channel it came on is gone: the broker redelivers the message, and
            # ingest recognises the redelivery as a duplicate.
            log.warning("ack failed; the broker will redeliver", error=describe_error(error))

    async def _requeue(self, message: AbstractIncomingMessage) -> None:
        try:
            await message.nack(requeue=True)
        except AMQP_TROUBLE as error:
            # Same end by another road: an unacked delivery returns when its channel closes.
            log.warning("nack failed; the broker will redeliver", error=describe_error(error))


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "store trouble; ingest will be retried",
        attempt=state.attempt_number,
        retry_in=round(state.upcoming_sleep, 3),
        error=describe_error(error) if error is not None else None,
    )
