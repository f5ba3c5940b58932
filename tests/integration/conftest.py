"""Fixtures for tests against the real RabbitMQ and a real SQLite database.

The broker is the one this machine runs (`rabbitmq-server -detached`), at
`amqp://guest:guest@127.0.0.1:5672/` unless JIAOYING_TEST_AMQP_URL names another (a
separate vhost keeps two test runs on one broker apart). A test fails, never skips, when
the broker is unreachable. Tests run serially: each starts by deleting and re-declaring
the jiaoying.* exchanges and queues, so none sees another's messages.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import AMQPConnectionError
from sqlalchemy import text
from yarl import URL

from dispatcher.amqp.consumer import Consumer, WarningIntake
from dispatcher.amqp.topology import (
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    DISPATCH_QUEUE,
    EVENTS_EXCHANGE,
    WARNINGS_EXCHANGE,
    declare_topology,
)
from dispatcher.engine.ingest import Ingested, Ingestor
from dispatcher.engine.roster_book import RosterBook
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.store.db import Database, open_database
from tests.pg import fresh_database

AMQP_URL = os.environ.get("JIAOYING_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CAP_XML = "application/cap+xml"
JSON = "application/json"

P = ParamSpec("P")
R = TypeVar("R")


def bounded(
    seconds: float,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Fail an async test that runs longer than `seconds` instead of hanging the suite."""

    def decorate(test: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(test)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            async with asyncio.timeout(seconds):
                return await test(*args, **kwargs)

        return run

    return decorate


def example(name: str) -> bytes:
    """The bytes of `examples/warnings/<name>`."""
    return (EXAMPLES / "warnings" / name).read_bytes()


def clock() -> datetime:
    return datetime.now(UTC)


async def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    """The rows of a read-only query on `db`."""
    async with db.reader.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


class Broker:
    """The test's hands on RabbitMQ: publish a warning, count and take queued messages."""

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.connection = connection

    async def publish(
        self,
        body: bytes,
        content_type: str | None,
        *,
        routing_key: str = "cap.441523",
        message_id: str | None = None,
    ) -> None:
        """Publish to `jiaoying.warnings` as a producer would, and wait for the confirm."""
        async with self.connection.channel(publisher_confirms=True) as channel:
            exchange = await channel.get_exchange(WARNINGS_EXCHANGE)
            message = aio_pika.Message(
                body,
                content_type=content_type,
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=routing_key, timeout=5)

    async def depth(self, queue: str) -> int:
        """Messages ready in `queue` (delivered but unacked ones are not counted)."""
        async with self.connection.channel() as channel:
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.message_count or 0)

    async def take(self, queue: str) -> list[AbstractIncomingMessage]:
        """Remove and return every message ready in `queue`."""
        taken: list[AbstractIncomingMessage] = []
        async with self.connection.channel() as channel:
            declared = await channel.declare_queue(queue, passive=True)
            while (message := await declared.get(no_ack=True, fail=False, timeout=5)) is not None:
                taken.append(message)
        return taken


async def reset_topology(connection: AbstractRobustConnection) -> None:
    """Delete jiaoying's exchanges and queues, with whatever they hold, and declare them anew."""
    async with connection.channel() as channel:
        for queue in (DISPATCH_QUEUE, DEAD_QUEUE):
            await channel.queue_delete(queue, timeout=5)
        for exchange in (WARNINGS_EXCHANGE, DEAD_EXCHANGE, EVENTS_EXCHANGE):
            await channel.exchange_delete(exchange, timeout=5)
        await declare_topology(channel)


async def connect(url: str = AMQP_URL) -> AbstractRobustConnection:
    """A robust connection to `url`; fails the test, with how to start RabbitMQ, if refused."""
    try:
        return await aio_pika.connect_robust(url, timeout=5)
    except (OSError, AMQPConnectionError) as error:  # TimeoutError is an OSError
        refused = error
    pytest.fail(
        f"RabbitMQ is not reachable at {URL(url).with_password('***')} ({refused!r}). "
        "These tests need the real broker: start it with `rabbitmq-server -detached` "
        "(or set JIAOYING_TEST_AMQP_URL), then run them again.",
        pytrace=False,
    )


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A connection to the real RabbitMQ, with the jiaoying topology freshly declared."""
    connection = await connect()
    async with connection:
        await reset_topology(connection)
        yield Broker(connection)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite database with jiaoying's schema."""
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/j.db")
    await database.create_schema()
    yield database
    await database.dispose()


def make_ingestor(database: Database) -> Ingestor:
    """An Ingestor over `database` with the example roster and policy."""
    return Ingestor(
        database,
        RosterBook(load_roster(EXAMPLES / "roster")),
        load_policy(EXAMPLES / "policy.yaml"),
        clock,
    )


@pytest.fixture
def ingestor(db: Database) -> Ingestor:
    return make_ingestor(db)


@dataclass
class RecordingIntake:
    """Wraps a real intake and records each attempt's outcome: an `Ingested` or the error."""

    inner: WarningIntake
    outcomes: list[Ingested | BaseException] = field(default_factory=list)

    async def ingest(self, body: bytes, content_type: str, source: str) -> Ingested:
        try:
            ingested = await self.inner.ingest(body, content_type, source)
        except BaseException as error:
            self.outcomes.append(error)
            raise
        self.outcomes.append(ingested)
        return ingested

    @property
    def stored(self) -> list[Ingested]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, Ingested)]


StartConsumer = Callable[..., Awaitable[Consumer]]


@pytest.fixture
async def start_consumer(broker: Broker) -> AsyncIterator[StartConsumer]:
    """Start a Consumer on the test's broker connection; every one is stopped at teardown."""
    started: list[Consumer] = []

    async def start(intake: WarningIntake, **options: Any) -> Consumer:
        consumer = Consumer(broker.connection, intake, **options)
        started.append(consumer)
        await consumer.start()
        return consumer

    yield start
    for consumer in started:
        await consumer.stop(grace=1.0)


class BrokerLink:
    """A TCP relay in front of RabbitMQ that a test can cut and restore: a network outage
    as the client sees it (connections reset, new ones refused), the broker untouched."""

    def __init__(self, target: URL) -> None:
        self._host = target.host or "127.0.0.1"
        self._port = target.port or 5672
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()

    async def up(self) -> None:
        """Accept connections (on the same port as before, after a cut)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Reset every relayed connection and refuse new ones until `up()`."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay = asyncio.current_task()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self._host, self._port)
        except OSError:
            writer.transport.abort()
            return
        if relay is not None:
            self._relays.add(relay)
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except OSError:
            pass  # one side reset the connection: the relay ends, as a cable pulled would
        finally:
            for end in (writer, upstream_writer):
                end.transport.abort()
                self._writers.discard(end)
            if relay is not None:
                self._relays.discard(relay)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def link(broker: Broker) -> AsyncIterator[BrokerLink]:
    """A relay to the test broker, up; torn down after the test."""
    relay = BrokerLink(URL(AMQP_URL))
    await relay.up()
    yield relay
    await relay.cut()


def url_through(relay: BrokerLink) -> str:
    """AMQP_URL, reaching the broker through `relay`, reconnecting quickly after a cut."""
    return str(
        URL(AMQP_URL).with_host("127.0.0.1").with_port(relay.port) % {"reconnect_interval": "0.2"}
    )


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database on the machine's server, dropped afterwards."""
    async with fresh_database() as url:
        yield url
