"""The whole service, fed over the machine's real RabbitMQ.

A producer publishes CAP to `jiaoying.warnings`; every resolved person gets the step-0
notices; some answer, the rest are called again, escalated and door-knocked at the fast
test policy's deadlines; a Cancel stops everything; events reach `jiaoying.events`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from channels.base import Channel
from channels.registry import CHANNEL_NAMES
from dispatcher.amqp.topology import DEAD_QUEUE, EVENTS_EXCHANGE
from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.core.restamp import restamp_cap, shift_to
from dispatcher.core.roster import Person
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.http.keys import REPLIES
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from tests.engine.conftest import app_of
from tests.fakes import RecordingChannel
from tests.integration.conftest import AMQP_URL, Broker, example
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
RED = "red-rainstorm.xml"


@dataclass
class Service:
    client: TestClient[Any, Any]
    channels: dict[str, RecordingChannel]
    shift: timedelta
    events: list[aio_pika.abc.AbstractIncomingMessage]

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with app_of(self.client)[ENGINE].db.reader.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    def sent(self, channel: str, kind: str) -> list[Any]:
        return [n for n in self.channels[channel].sent if n.kind == kind]


@pytest.fixture
async def service(broker: Broker, tmp_path: Path) -> AsyncIterator[Service]:
    settings = load_settings(
        {
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_AMQP_URL": AMQP_URL,
            "JIAOYING_API_TOKENS": "ops:ops-token-0123456789abcdef",
            "JIAOYING_SHUTDOWN_GRACE": "5",
        }
    )
    channels = {name: RecordingChannel(name) for name in CHANNEL_NAMES}

    def make_channels() -> dict[str, Channel]:
        return dict(channels)

    app = build_app(
        settings,
        load_roster(ROOT / "examples/roster"),
        load_policy(ROOT / "tests/data/fast-policy.yaml"),
        channels=make_channels,
    )
    events: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with broker.connection.channel() as channel:
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "#")

        async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            events.append(message)

        await queue.consume(keep, no_ack=True)
        client = TestClient(TestServer(app))
        await client.start_server()
        shift = shift_to(parse_cap(example(RED)).sent, datetime.now(UTC))
        try:
            yield Service(client, channels, shift, events)
        finally:
            await client.close()


def persons_of(name: str) -> dict[str, Person]:
    roster = load_roster(ROOT / "examples/roster")
    warning = parse_cap(example(name))
    return {t.person.id: t.person for t in resolve(warning.areas, roster).recipients}


async def publish(broker: Broker, service: Service, name: str) -> None:
    await broker.publish(restamp_cap(example(name), service.shift), "application/cap+xml")


async def test_a_published_red_warning_is_answered_escalated_and_cancelled(
    broker: Broker, service: Service
) -> None:
    persons = persons_of(RED)
    phones = {p.phone for p in persons.values() if p.phone}
    await publish(broker, service, RED)
    await eventually(lambda: {n.address for n in service.sent("sms", "alert")} == phones)
    await eventually(lambda: {n.address for n in service.sent("voice", "alert")} == phones)
    (warning,) = await service.rows("select id from warnings")

    replies = app_of(service.client)[REPLIES]
    answering = sorted(p for p in persons if persons[p].phone)[:5]
    for person_id in answering:
        assert await replies.text_from(persons[person_id].phone or "", " 收到！")
    silent_phones = phones - {persons[p].phone for p in answering}

    def recalled() -> set[str]:
        calls = [n.address for n in service.sent("voice", "alert")]
        return {phone for phone in phones if calls.count(phone) > 1}

    await eventually(lambda: recalled() == silent_phones, within=6)
    await eventually(lambda: service.sent("voice", "escalation"), within=6)
    named = " ".join(n.text for n in service.sent("voice", "escalation"))
    for person_id in answering:
        assert persons[person_id].name not in named, "an answered person is never named"
    await eventually(lambda: service.rows("select id from tasks"), within=6)

    await publish(broker, service, "red-rainstorm-cancel.xml")
    await eventually(lambda: service.sent("sms", "cancel"), within=5)
    await eventually(lambda: _no_timers(service), within=5)
    cancelled = {n.address for n in service.sent("sms", "cancel")}
    assert cancelled == phones, "everyone already told hears of the cancel"

    await eventually(
        lambda: (
            {m.routing_key for m in service.events}
            >= {"summary.red", "answered.red", "escalated.red"}
        ),
        within=5,
    )
    answered_events = [
        json.loads(m.body) for m in service.events if m.routing_key == "answered.red"
    ]
    assert {e["warning_id"] for e in answered_events} == {warning.id}
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in service.events)


async def test_the_same_warning_twice_is_dispatched_once(broker: Broker, service: Service) -> None:
    await publish(broker, service, RED)
    await publish(broker, service, RED)
    phones = {p.phone for p in persons_of(RED).values() if p.phone}
    await eventually(lambda: {n.address for n in service.sent("sms", "alert")} == phones)
    await asyncio.sleep(0.5)
    assert len(await service.rows("select id from warnings")) == 1
    assert len(service.sent("sms", "alert")) == len(phones)


async def test_poison_goes_to_the_dead_letters_and_the_next_warning_is_served(
    broker: Broker, service: Service
) -> None:
    await broker.publish(b"<alert><identifier>broken", "application/cap+xml")
    await publish(broker, service, RED)
    await eventually(lambda: service.sent("sms", "alert"))
    dead = await eventually(lambda: broker.take(DEAD_QUEUE))
    assert dead[0].headers["x-jiaoying-reason"]
    listed = await service.rows("select reason, source from dead_letters")
    assert [row.source for row in listed] == ["amqp"]


async def _no_timers(service: Service) -> bool:
    return not await service.rows("select recipient_id from timers")
