"""The outbox publisher against the real RabbitMQ: events go out persistent, as JSON, once
confirmed are marked, and wait out a broker outage instead of being lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from dispatcher.amqp.events import EventPublisher, EventsNotPublished
from dispatcher.amqp.topology import EVENTS_EXCHANGE
from dispatcher.core.model import Level
from dispatcher.engine.ingest import Ingestor
from dispatcher.store.db import Database
from dispatcher.store.outbox import enqueue_event
from tests.integration.conftest import (
    AMQP_URL,
    CAP_XML,
    Broker,
    BrokerLink,
    bounded,
    clock,
    connect,
    example,
    rows,
    url_through,
)
from tests.waiting import eventually


@pytest.fixture
async def listener(broker: Broker) -> AsyncIterator[AbstractQueue]:
    """A temporary queue bound to `jiaoying.events` with `#`: what a producer would see."""
    async with broker.connection.channel() as channel:
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(EVENTS_EXCHANGE, routing_key="#")
        yield queue


async def received(
    queue: AbstractQueue, count: int, within: float = 5.0
) -> list[AbstractIncomingMessage]:
    """Take `count` messages from `queue`, waiting up to `within` seconds for them."""
    taken: list[AbstractIncomingMessage] = []

    async def more() -> bool:
        while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            taken.append(message)
        return len(taken) >= count

    await eventually(more, within)
    return taken


async def enqueue(db: Database, *bodies: dict[str, Any], kind: str = "escalated") -> None:
    async with db.writer.begin() as conn:
        for body in bodies:
            await enqueue_event(conn, kind, Level.RED, now=clock(), body=body)


async def pending(db: Database) -> list[int]:
    return [row.id for row in await rows(db, "SELECT id FROM outbox WHERE published_at IS NULL")]


@bounded(15)
async def test_pending_events_are_published_as_persistent_json_and_marked(
    broker: Broker, db: Database, ingestor: Ingestor, listener: AbstractQueue
) -> None:
    await ingestor.ingest(example("red-rainstorm.xml"), CAP_XML, "test")  # a summary.red event
    await enqueue(db, {"warning_id": "w1", "person": "网格员", "grids": ["441523100001001"]})
    outbox = await rows(db, "SELECT id, routing_key, body FROM outbox ORDER BY id")
    publisher = EventPublisher(broker.connection, db, clock)
    try:
        assert await publisher.publish_pending() == 2
        assert await publisher.publish_pending() == 0  # nothing published twice
    finally:
        await publisher.close()

    messages = await received(listener, 2)
    assert [m.routing_key for m in messages] == ["summary.red", "escalated.red"]
    for message, row in zip(messages, outbox, strict=True):
        assert message.message_id == f"evt-{row.id}"
        assert message.content_type == "application/json"
        assert message.delivery_mode == DeliveryMode.PERSISTENT
        assert json.loads(message.body) == json.loads(row.body)  # text() leaves JSON as text
    assert "网格员".encode() in messages[1].body  # UTF-8, not \\u escapes
    assert await pending(db) == []


@bounded(15)
async def test_a_drain_takes_at_most_a_batch_oldest_first(
    broker: Broker, db: Database, listener: AbstractQueue
) -> None:
    await enqueue(db, *({"n": n} for n in range(5)))
    publisher = EventPublisher(broker.connection, db, clock, batch=2)
    try:
        assert await publisher.publish_pending() == 2
        assert await pending(db) == [3, 4, 5]
    finally:
        await publisher.close()
    assert [m.message_id for m in await received(listener, 2)] == ["evt-1", "evt-2"]


@bounded(15)
async def test_run_drains_everything_and_wake_publishes_at_once(
    broker: Broker, db: Database, listener: AbstractQueue
) -> None:
    await enqueue(db, *({"n": n} for n in range(5)))
    publisher = EventPublisher(broker.connection, db, clock, batch=2, idle=60.0)
    running = asyncio.create_task(publisher.run())
    try:
        await eventually(lambda: _empty(db))
        assert len(await received(listener, 5)) == 5

        await enqueue(db, {"n": 5})
        publisher.wake()  # without it the next poll would be a minute away
        (late,) = await received(listener, 1, within=2.0)
        assert json.loads(late.body)["n"] == 5
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await publisher.close()


async def _empty(db: Database) -> bool:
    return await pending(db) == []


@bounded(20)
async def test_a_broker_outage_delays_events_and_loses_none(
    db: Database, link: BrokerLink, listener: AbstractQueue
) -> None:
    connection = await connect(url_through(link))
    publisher = EventPublisher(connection, db, clock, idle=0.1, retry_backoff_max=0.3)
    running = asyncio.create_task(publisher.run())
    try:
        await enqueue(db, {"n": 1})
        publisher.wake()
        assert len(await received(listener, 1)) == 1

        await link.cut()
        await enqueue(db, {"n": 2}, {"n": 3})
        publisher.wake()
        await asyncio.sleep(1.0)  # several tries, all failing
        assert len(await pending(db)) == 2
        assert await listener.get(no_ack=True, fail=False) is None

        await link.up()
        later = await received(listener, 2, within=8.0)
        assert sorted(json.loads(m.body)["n"] for m in later) == [2, 3]
        await eventually(lambda: _empty(db))
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await publisher.close()
        await connection.close()


@bounded(15)
async def test_a_failed_publish_leaves_the_event_pending_for_a_new_channel(
    broker: Broker, db: Database, listener: AbstractQueue
) -> None:
    connections = [await aio_pika.connect(AMQP_URL, timeout=5)]

    async def channel() -> AbstractChannel:
        return await connections[-1].channel(publisher_confirms=True)

    publisher = EventPublisher(channel, db, clock)
    try:
        await enqueue(db, {"n": 1})
        assert await publisher.publish_pending() == 1
        await connections[-1].close()  # the channel dies with its connection

        await enqueue(db, {"n": 2})
        with pytest.raises(EventsNotPublished):
            await publisher.publish_pending()
        assert len(await pending(db)) == 1

        connections.append(await aio_pika.connect(AMQP_URL, timeout=5))
        assert await publisher.publish_pending() == 1
        assert await pending(db) == []
        assert [json.loads(m.body)["n"] for m in await received(listener, 2)] == [1, 2]
    finally:
        await publisher.close()
        for connection in connections:
            await connection.close()
