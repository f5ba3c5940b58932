"""RabbitMQ restarted (`rabbitmqctl stop_app` / `start_app`) while warnings flow.

A producer publishes one warning per village at a steady pace, with publisher confirms,
and publishes again whatever the broker did not confirm (what a careful producer does,
and why jiaoying must dedupe). Midway the broker is stopped for a few seconds and started
again. The running `jiaoying serve` is left alone: its consumer and its event publisher
must come back by themselves. In the end every warning is stored once, every grid
person has had exactly one SMS, the queues are empty, and every event of the outbox
reached `jiaoying.events`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage

from dispatcher.amqp.topology import DEAD_QUEUE, DISPATCH_QUEUE, EVENTS_EXCHANGE, WARNINGS_EXCHANGE
from tests.integration.conftest import bounded
from tests.reliability.conftest import Rabbit
from tests.reliability.harness import (
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    publish_confirmed,
    query,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import write_county
from tests.standins.twilio import TwilioStandIn

WARNINGS = 120
PER_VILLAGE = 2
PACE = 0.04  # seconds between two publishes: 25 warnings a second
STOP_AFTER = 40  # warnings published before the broker stops
DOWN_FOR = 3.0  # seconds the broker stays stopped
EVENTS_QUEUE = "reliability.events"
POLICY = """
red: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""


class Producer:
    """Publishes with confirms; what the broker does not confirm is published again."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.published = 0
        self.republished = 0

    async def run(self, bodies: list[bytes], stopped: asyncio.Event) -> None:
        connection = await aio_pika.connect_robust(self._url, reconnect_interval=0.5)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(WARNINGS_EXCHANGE)
            for number, body in enumerate(bodies):
                if number == STOP_AFTER:
                    stopped.set()
                self.republished += await publish_confirmed(exchange, body, wait=5)
                self.published += 1
                await asyncio.sleep(PACE)


@bounded(120)
async def test_a_broker_restart_loses_nothing_and_dispatches_nothing_twice(
    rabbit: Rabbit, tmp_path: Path
) -> None:
    county = write_county(tmp_path / "roster", WARNINGS * PER_VILLAGE, per_village=PER_VILLAGE)
    async with rabbit.broker.connection.channel() as channel:
        events = await channel.declare_queue(EVENTS_QUEUE, durable=True)
        await events.purge()
        await events.bind(EVENTS_EXCHANGE, "#")
    async with TwilioStandIn() as standin:
        serve = Serve(
            serve_env(
                tmp_path,
                roster=county.directory,
                policy=POLICY,
                extra={**twilio_env(standin), "JIAOYING_AMQP_URL": rabbit.url},
            ),
            tmp_path / "serve.log",
        )
        await prepare_store(serve.db_url)
        bodies = [warning_json(f"restart-{n:04d}", [village(n)]) for n in range(WARNINGS)]
        async with aiohttp.ClientSession() as http:
            api = Api(http, serve.url)
            serve.start()
            try:
                await serve.until_ready(http)
                producer = Producer(rabbit.url)
                stop_now = asyncio.Event()
                producing = asyncio.create_task(producer.run(bodies, stop_now))
                await stop_now.wait()
                await rabbit.stop_app()
                stopped_at = time.monotonic()
                # The readiness probe sees the broker gone (no silent "ready" while deaf).
                await eventually(
                    lambda: _not_ready(api), within=DOWN_FOR + 5, what="readyz never went false"
                )
                await asyncio.sleep(max(0.0, DOWN_FOR - (time.monotonic() - stopped_at)))
                issued = time.monotonic()
                down = issued - stopped_at
                await rabbit.start_app()
                started = time.monotonic() - issued
                await eventually(lambda: _ready(api), within=30, what="readyz after start_app")
                recovered = time.monotonic() - issued
                await asyncio.wait_for(producing, 60)
                await eventually(
                    lambda: _stored(serve.db_url), within=30, what="every warning stored"
                )
                everyone = set(county.grid_phones)
                await eventually(
                    lambda: set(_sms(standin)) >= everyone, within=30, what="everyone reached"
                )
                await eventually(
                    lambda: _outbox_drained(serve.db_url), within=30, what="outbox drained"
                )
                await asyncio.sleep(1.0)  # anything sent twice would arrive by now
            finally:
                assert await serve.terminate() == 0, "a SIGTERM ends the service cleanly"

    identifiers = await query(
        serve.db_url, "select identifier, count(*) from messages group by identifier"
    )
    per_phone = _sms(standin)
    queues = await rabbit.drained()
    published_events = await _take_events(rabbit)
    outbox = {row.id for row in await query(serve.db_url, "select id from outbox")}
    ingested = Counter(
        line.get("outcome") for line in serve.log_lines() if line["event"] == "warning ingested"
    )
    figures(
        "broker restart",
        warnings=WARNINGS,
        publishes_retried=producer.republished,
        stored=len(identifiers),
        deliveries_recognised_as_duplicates=ingested["duplicate"],
        sms=sum(per_phone.values()),
        sms_twice=sum(count - 1 for count in per_phone.values()),
        broker_stopped_s=round(down, 2),
        start_app_took_s=round(started, 2),
        ready_again_after_start_app_s=round(recovered, 2),
        events=len(outbox),
        events_received=len(published_events),
        events_redelivered=sum(published_events.values()) - len(published_events),
    )
    assert len(identifiers) == WARNINGS and all(count == 1 for _, count in identifiers)
    assert set(per_phone) == set(county.grid_phones), "every grid person reached"
    assert all(count == 1 for count in per_phone.values()), "nobody sent the SMS twice"
    assert queues[DISPATCH_QUEUE] == (0, 0), "every delivery settled"
    assert queues[DEAD_QUEUE] == (0, 0), "a broker restart dead-letters nothing"
    assert {int(message_id[4:]) for message_id in published_events} == outbox, (
        "every event of the outbox reached jiaoying.events (at least once)"
    )


async def _ready(api: Api) -> bool:
    ready, _ = await api.ready()
    return ready


async def _not_ready(api: Api) -> bool:
    ready, checks = await api.ready()
    return not ready and checks.get("broker") != "ok"


async def _stored(db_url: str) -> bool:
    (count,) = (await query(db_url, "select count(*) from warnings"))[0]
    return bool(count == WARNINGS)


async def _outbox_drained(db_url: str) -> bool:
    (total, pending) = (
        await query(db_url, "select count(*), count(*) - count(published_at) from outbox")
    )[0]
    return bool(total >= WARNINGS and pending == 0)


def _sms(standin: TwilioStandIn) -> Counter[str]:
    return Counter(message.to for message in standin.messages.values())


async def _take_events(rabbit: Rabbit) -> Counter[str]:
    """Message id → how many times it arrived, for everything in the events queue."""
    taken: list[AbstractIncomingMessage] = []
    async with rabbit.broker.connection.channel() as channel:
        queue = await channel.declare_queue(EVENTS_QUEUE, passive=True)
        while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            taken.append(message)
        await queue.delete(if_unused=False, if_empty=False)
    return Counter(str(message.message_id) for message in taken)
