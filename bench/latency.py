"""Scenario 2: warnings published one by one to RabbitMQ; publish → first provider request.

Each warning covers one village (20 grid persons), so the stand-in's first SMS to a
number of that village is the first provider request for that warning. The floor is
the same trip without jiaoying: a bare aio-pika consumer in the driver that POSTs one
SMS to the stand-in for each message it takes from a queue of its own.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from bench.client import reset_standin, standin_count, standin_stats, until
from bench.procs import TWILIO_FROM, Service, ServiceConfig, StandIn
from bench.stats import percentile
from bench.world import (
    PER_VILLAGE,
    SMS_ONLY,
    county,
    policy,
    village_code,
    village_of_phone,
    warning,
)
from dispatcher.amqp.topology import WARNINGS_EXCHANGE, declare_topology

ROUTING_KEY = "json.441523"


@dataclass
class LatencyResult:
    warnings: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    floor_p50_ms: float
    floor_p99_ms: float


async def run_latency(
    standin: StandIn, workdir: Path, amqp_url: str, warnings: int, gap: float
) -> LatencyResult:
    roster = county(workdir / "roster", (warnings + 1) * PER_VILLAGE)
    config = ServiceConfig(
        workdir=workdir,
        roster=roster.directory,
        policy=policy(workdir / "policy.yaml", SMS_ONLY),
        amqp_url=amqp_url,
    )
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        await _empty_dispatch_queue(connection)
        floor = await _floor(connection, standin, warnings, gap)
        async with aiohttp.ClientSession() as http, Service(config, standin) as service:
            # One warning first, not counted: the first after a start also stores the
            # roster's snapshot and fills SQLAlchemy's statement cache.
            await _publish(connection, [warnings], gap)
            await until(lambda: _sent(http, standin.url, PER_VILLAGE), within=60, what="warm-up")
            await reset_standin(http, standin.url, callbacks=service.url)
            published = await _publish(connection, list(range(warnings)), gap)

            first: dict[int, float] = {}

            async def every_warning_sent() -> bool:
                # Per village, not a count: a send retried after a lost answer counts twice.
                first.clear()
                for at, phone in (await standin_stats(http, standin.url)).sent:
                    village = village_of_phone(phone)
                    first[village] = min(at, first.get(village, at))
                return all(index in first for index in range(warnings))

            await until(
                every_warning_sent, within=60 + warnings * gap, every=0.5, what="every warning"
            )
    latencies = [first[index] - at for index, at in enumerate(published)]
    return LatencyResult(
        warnings=warnings,
        p50_ms=1000 * percentile(latencies, 50),
        p99_ms=1000 * percentile(latencies, 99),
        max_ms=1000 * max(latencies),
        floor_p50_ms=1000 * percentile(floor, 50),
        floor_p99_ms=1000 * percentile(floor, 99),
    )


async def _empty_dispatch_queue(connection: AbstractRobustConnection) -> None:
    """Declare the topology in the bench's vhost and drop what an aborted run left queued."""
    async with connection.channel() as channel:
        topology = await declare_topology(channel)
        await topology.dispatch.purge()


async def _sent(http: aiohttp.ClientSession, standin_url: str, count: int) -> bool:
    return (await standin_count(http, standin_url)).sent >= count


async def _publish(
    connection: AbstractRobustConnection, villages: list[int], gap: float
) -> list[float]:
    """Publish a warning for each of `villages`, `gap` seconds apart, each with confirms,
    as a producer would; when each publish started (epoch seconds)."""
    published: list[float] = []
    async with connection.channel(publisher_confirms=True) as channel:
        exchange = await channel.get_exchange(WARNINGS_EXCHANGE)
        for index in villages:
            identifier = f"bench-latency-{index}-{time.time_ns()}"
            body = warning(identifier, [village_code(index)], datetime.now(UTC))
            message = aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            published.append(time.time())
            await exchange.publish(message, routing_key=ROUTING_KEY, timeout=10)
            await asyncio.sleep(gap)
    return published


async def _floor(
    connection: AbstractRobustConnection, standin: StandIn, count: int, gap: float
) -> list[float]:
    """The same trip with nothing in between: publish to a private queue; a bare
    consumer POSTs one Messages request per message. Arrival
    is the stand-in's own clock, as for the service."""
    credentials = base64.b64encode(f"{standin.account_sid}:{standin.auth_token}".encode())
    headers = {
        "Authorization": f"Basic {credentials.decode()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    url = f"{standin.url}/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    async with aiohttp.ClientSession() as http, connection.channel() as channel:
        await reset_standin(http, standin.url)
        # Straight to a private queue through the default exchange: nothing of it may
        # reach jiaoying.dispatch, which takes everything published to the warnings.
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process():
                form = {"To": message.body.decode(), "From": TWILIO_FROM, "Body": "floor"}
                async with http.post(url, data=urlencode(form), headers=headers) as reply:
                    await reply.read()

        await queue.consume(on_message)
        published: dict[str, float] = {}
        for index in range(count):
            phone = f"+86138{index:08d}"
            published[phone] = time.time()
            await channel.default_exchange.publish(
                aio_pika.Message(phone.encode()), routing_key=queue.name, timeout=10
            )
            await asyncio.sleep(gap / 4)

        async def all_arrived() -> bool:
            return (await standin_count(http, standin.url)).sent >= count

        await until(all_arrived, within=30, what="floor messages at the stand-in")
        stats = await standin_stats(http, standin.url)
    return [at - published[phone] for at, phone in stats.sent]
