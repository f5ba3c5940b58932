"""Fixtures of the reliability suite: a private RabbitMQ node, PostgreSQL, the broker's hands.

Every case runs `jiaoying serve` as a real process (tests.reliability.harness) against
real dependencies: the private RabbitMQ node of this run (tests.reliability.rabbit), the
machine's PostgreSQL (a fresh database per case, `pg_url`) or a SQLite file, and the
providers' stand-ins (tests.standins). Nothing here is skipped: a dependency that cannot
be had fails the case with what to do about it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from dispatcher.amqp.topology import DISPATCH_QUEUE
from tests.integration.conftest import Broker, connect, pg_url, reset_topology
from tests.reliability.rabbit import PrivateRabbit, RabbitUnavailable

__all__ = ["Rabbit", "pg_url"]


@pytest.fixture(scope="session")
def private_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    """This run's own RabbitMQ node (booted once: it takes some seconds)."""
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.start()
    except RabbitUnavailable as error:
        node.stop()
        pytest.fail(f"cannot run a private RabbitMQ node for the reliability suite: {error}")
    try:
        yield node
    finally:
        node.stop()


@dataclass
class Rabbit:
    """The private node (to restart it, list its queues) and a producer's connection.

    `rabbitmqctl` takes a second or so: these run it in a thread, so that the stand-ins
    and relays sharing the test's event loop keep serving meanwhile.
    """

    node: PrivateRabbit
    broker: Broker

    @property
    def url(self) -> str:
        return self.node.url

    async def queues(self) -> dict[str, tuple[int, int]]:
        """Queue name → (messages ready, messages unacknowledged)."""
        return await asyncio.to_thread(self.node.queues)

    async def queue_is(self, name: str, ready: int, unacked: int) -> bool:
        return (await self.queues()).get(name) == (ready, unacked)

    async def drained(self, within: float = 15.0) -> dict[str, tuple[int, int]]:
        """The queues once `jiaoying.dispatch` holds nothing, or as they are after `within`
        seconds (a quorum queue's counts in `list_queues` lag a few seconds behind)."""
        deadline = time.monotonic() + within
        while True:
            queues = await self.queues()
            if queues.get(DISPATCH_QUEUE) == (0, 0) or time.monotonic() > deadline:
                return queues
            await asyncio.sleep(0.5)

    async def stop_app(self) -> None:
        await asyncio.to_thread(self.node.stop_app)

    async def start_app(self) -> None:
        await asyncio.to_thread(self.node.start_app)


@pytest.fixture
async def rabbit(private_rabbit: PrivateRabbit) -> AsyncIterator[Rabbit]:
    """The private node with jiaoying's topology freshly declared and nothing queued."""
    connection = await connect(private_rabbit.url)
    async with connection:
        await reset_topology(connection)
        yield Rabbit(private_rabbit, Broker(connection))
