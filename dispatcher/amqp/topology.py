"""The RabbitMQ names jiaoying uses, and the one function that declares them.

Producers publish warnings to the topic exchange `jiaoying.warnings`; the service consumes
them from the quorum queue `jiaoying.dispatch`. Poison messages go to `jiaoying.dead`, by
the consumer (with the reason in headers) or by the broker once a message has been
delivered `DELIVERY_LIMIT` times without being settled. Events for producers go out on
`jiaoying.events`. Every declaration is idempotent, so each process declares on start.
"""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, FieldValue

WARNINGS_EXCHANGE = "jiaoying.warnings"
DISPATCH_QUEUE = "jiaoying.dispatch"
DEAD_EXCHANGE = "jiaoying.dead"
DEAD_QUEUE = "jiaoying.dead"
EVENTS_EXCHANGE = "jiaoying.events"

# A message that makes the consumer fail this many times is a bug's victim, not a
# warning to wait for: the broker moves it to the dead letters so the queue moves on.
DELIVERY_LIMIT = 5

DISPATCH_ARGUMENTS: dict[str, FieldValue] = {
    "x-queue-type": "quorum",
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": DEAD_EXCHANGE,
}
# Quorum too: dead letters are evidence for the 叫应台账 and should survive a node loss
# just as the warnings do.
DEAD_ARGUMENTS: dict[str, FieldValue] = {"x-queue-type": "quorum"}


@dataclass(frozen=True, slots=True)
class Topology:
    """The declared objects a consumer or publisher works with."""

    warnings: AbstractExchange
    dispatch: AbstractQueue
    dead: AbstractExchange
    dead_letters: AbstractQueue
    events: AbstractExchange


async def declare_events_exchange(channel: AbstractChannel) -> AbstractExchange:
    """Declare the durable topic exchange `jiaoying.events` and return it."""
    return await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)


async def declare_topology(channel: AbstractChannel) -> Topology:
    """Declare jiaoying's exchanges, queues and bindings on `channel`; returns them.

    Raises `aio_pika.exceptions.ChannelPreconditionFailed` when an object of the same name
    exists with other settings (say, a classic `jiaoying.dispatch` from an older
    deployment): RabbitMQ never changes a queue's type in place.
    """
    warnings = await channel.declare_exchange(WARNINGS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    # Fanout: a dead letter keeps its original routing key for inspection, yet must
    # reach the dead-letter queue whatever that key is.
    dead = await channel.declare_exchange(DEAD_EXCHANGE, ExchangeType.FANOUT, durable=True)
    dead_letters = await channel.declare_queue(DEAD_QUEUE, durable=True, arguments=DEAD_ARGUMENTS)
    await dead_letters.bind(dead, routing_key="")
    dispatch = await channel.declare_queue(
        DISPATCH_QUEUE, durable=True, arguments=DISPATCH_ARGUMENTS
    )
    await dispatch.bind(warnings, routing_key="#")
    events = await declare_events_exchange(channel)
    return Topology(warnings, dispatch, dead, dead_letters, events)
