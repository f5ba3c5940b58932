"""The store locked or gone for a while: jiaoying says it is not ready, holds on, resumes.

- SQLite: another connection holds the write lock (an operator's shell left in a
  transaction, a backup). Reads go on (WAL), writes wait.
- PostgreSQL: the server becomes unreachable; the service reaches it through a TCP relay
  that the test cuts (every connection reset, new ones refused) and restores.

Meanwhile a warning arrives over RabbitMQ, another over HTTP, and sends are in flight.
While the store is away `/readyz` is false, the AMQP delivery stays unacknowledged and is
not dead-lettered, the service does not spin; once the store is back every warning is
stored once, every person reached, every send's outcome recorded, and the policy's later
steps still fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from dispatcher.amqp.topology import DEAD_QUEUE, DISPATCH_QUEUE
from tests.integration.conftest import BrokerLink, bounded
from tests.reliability.conftest import Rabbit
from tests.reliability.harness import (
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    query,
    serve_env,
    twilio_env,
    village,
    warning_json,
)
from tests.rosters import County, write_county
from tests.standins.twilio import TwilioStandIn

PER_VILLAGE = 20
WATCH = 4.0  # seconds of the outage over which the service's CPU time is measured
RENOTIFY_AFTER = 8  # the policy's second step, due after the store is back
POLICY = f"""
red:
  answer_within: 1h
  steps:
    - {{after: 0s, notify: [sms]}}
    - {{after: {RENOTIFY_AFTER}s, unless: answered, notify: [sms]}}
orange: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
yellow: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
blue: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
"""


@dataclass
class Trouble:
    serve: Serve
    api: Api
    county: County
    standin: TwilioStandIn
    rabbit: Rabbit

    def sms_per_phone(self) -> Counter[str]:
        return Counter(message.to for message in self.standin.messages.values())

    def phones_of(self, *villages: int) -> set[str]:
        return {
            phone
            for v in villages
            for phone in self.county.grid_phones[v * PER_VILLAGE : (v + 1) * PER_VILLAGE]
        }


@contextlib.asynccontextmanager
async def _trouble(
    tmp_path: Path, rabbit: Rabbit, db_url: str | None = None
) -> AsyncIterator[Trouble]:
    county = write_county(tmp_path / "roster", 3 * PER_VILLAGE, per_village=PER_VILLAGE)
    async with TwilioStandIn() as standin, aiohttp.ClientSession() as http:
        extra = {**twilio_env(standin), "JIAOYING_AMQP_URL": rabbit.url}
        env = serve_env(
            tmp_path, roster=county.directory, policy=POLICY, db_url=db_url, extra=extra
        )
        serve = Serve(env, tmp_path / "serve.log")
        try:
            yield Trouble(serve, Api(http, serve.url), county, standin, rabbit)
        finally:
            await serve.terminate()


async def _cpu_while_waiting(serve: Serve) -> tuple[float, float]:
    """The service's CPU seconds over `WATCH` seconds of waiting, and the seconds watched:
    a service waiting for its store must not spin."""
    before, watched_from = serve.usage(), time.monotonic()
    await asyncio.sleep(WATCH)
    return serve.usage().cpu - before.cpu, time.monotonic() - watched_from


async def _not_ready(api: Api) -> dict[str, str] | None:
    ready, checks = await api.ready()
    return None if ready else checks


async def _ready(api: Api) -> bool:
    ready, _ = await api.ready()
    return ready


@pytest.fixture
async def on_sqlite(tmp_path: Path, rabbit: Rabbit) -> AsyncIterator[Trouble]:
    async with _trouble(tmp_path, rabbit) as trouble:
        yield trouble


@bounded(90)
async def test_a_locked_sqlite_store_holds_the_delivery_and_work_resumes(
    on_sqlite: Trouble, rabbit: Rabbit
) -> None:
    trouble = on_sqlite
    serve, api = trouble.serve, trouble.api
    await prepare_store(serve.db_url)
    serve.start()
    await serve.until_ready(api.http)
    await rabbit.broker.publish(warning_json("lock-0", [village(0)]), "application/json")
    await eventually(
        lambda: set(trouble.sms_per_phone()) >= trouble.phones_of(0), 15, "first warning"
    )
    (first,) = await query(serve.db_url, "select id from warnings")

    holder = sqlite3.connect(
        serve.db_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None
    )
    try:
        holder.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        await rabbit.broker.publish(warning_json("lock-1", [village(1)]), "application/json")
        over_http = asyncio.create_task(
            api.post("/v1/warnings", warning_json("lock-2", [village(2)]))
        )
        checks = await eventually(lambda: _not_ready(api), 4, "readyz stayed true")
        not_ready_after = time.monotonic() - locked_at
        await eventually(lambda: rabbit.queue_is(DISPATCH_QUEUE, 0, 1), 10, "delivery not held")
        reads, _ = await api.get(f"/v1/warnings/{first.id}")
        cpu, watched = await _cpu_while_waiting(serve)
        held = await rabbit.queues()
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    released_at = time.monotonic()
    locked = released_at - locked_at
    await eventually(lambda: _ready(api), 10, "readyz after the lock")
    ready_after = time.monotonic() - released_at
    http_status, http_answer = await asyncio.wait_for(over_http, 30)
    everyone = trouble.phones_of(0, 1, 2)
    await eventually(lambda: set(trouble.sms_per_phone()) >= everyone, 20, "everyone")
    resumed_after = time.monotonic() - released_at
    queues = await rabbit.drained()

    stored = await query(serve.db_url, "select identifier from messages order by identifier")
    dead = await query(serve.db_url, "select count(*) from dead_letters")
    figures(
        "store locked (SQLite)",
        locked_s=round(locked, 2),
        readyz_false_after_s=round(not_ready_after, 2),
        readyz_checks_while_locked=checks,
        status_api_while_locked=reads,
        amqp_while_locked={"ready": held[DISPATCH_QUEUE][0], "unacked": held[DISPATCH_QUEUE][1]},
        cpu_while_locked_s=round(cpu, 3),
        watched_s=round(watched, 2),
        ready_again_after_s=round(ready_after, 2),
        everyone_reached_after_s=round(resumed_after, 2),
        http_post_during_lock=http_status,
    )
    assert "store" in checks and checks["store"] != "ok", checks
    assert held[DISPATCH_QUEUE] == (0, 1), "consumed and held unacknowledged while locked"
    assert held[DEAD_QUEUE] == (0, 0) and queues[DEAD_QUEUE] == (0, 0), "nothing dead-lettered"
    assert queues[DISPATCH_QUEUE] == (0, 0), "acknowledged once stored"
    assert reads == 200, "the status API reads through a held write lock"
    assert http_status == 202, http_answer
    assert [row.identifier for row in stored] == ["lock-0", "lock-1", "lock-2"]
    assert dead[0][0] == 0
    assert cpu < 0.1 * watched, "no busy loop while the store is locked"


@pytest.fixture
async def pg_link(pg_url: str) -> AsyncIterator[tuple[str, BrokerLink]]:
    """A TCP relay in front of the test's PostgreSQL database, and the URL through it."""
    target = URL(pg_url.replace("postgresql+asyncpg", "postgresql"))
    relay = BrokerLink(target)
    await relay.up()
    through = pg_url.replace(f"{target.host}:{target.port}", f"127.0.0.1:{relay.port}", 1)
    try:
        yield through, relay
    finally:
        await relay.cut()


@pytest.fixture
async def on_postgresql(
    tmp_path: Path, rabbit: Rabbit, pg_url: str, pg_link: tuple[str, BrokerLink]
) -> AsyncIterator[Trouble]:
    await prepare_store(pg_url)
    async with _trouble(tmp_path, rabbit, db_url=pg_link[0]) as trouble:
        yield trouble


@bounded(120)
async def test_an_unreachable_postgresql_is_waited_out_and_nothing_is_lost(
    on_postgresql: Trouble, rabbit: Rabbit, pg_url: str, pg_link: tuple[str, BrokerLink]
) -> None:
    trouble, relay = on_postgresql, pg_link[1]
    serve, api, standin = trouble.serve, trouble.api, trouble.standin
    serve.start()
    await serve.until_ready(api.http)
    # Answers held back: sends are in flight, their outcomes unrecorded, at the cut.
    standin.response_delay = 1.5
    await rabbit.broker.publish(warning_json("cut-0", [village(0)]), "application/json")
    await eventually(lambda: len(standin.messages) >= PER_VILLAGE // 2, 15, "sends going")
    await relay.cut()
    cut_at = time.monotonic()
    await rabbit.broker.publish(warning_json("cut-1", [village(1)]), "application/json")
    http_status, http_answer = await api.post("/v1/warnings", warning_json("cut-2", [village(2)]))
    checks = await eventually(lambda: _not_ready(api), 5, "readyz stayed true")
    not_ready_after = time.monotonic() - cut_at
    await asyncio.sleep(1.0)
    cpu, watched = await _cpu_while_waiting(serve)
    held = await rabbit.queues()
    standin.response_delay = 0.0
    await relay.up()
    back_at = time.monotonic()
    away = back_at - cut_at
    await eventually(lambda: _ready(api), 15, "readyz after the store came back")
    ready_after = time.monotonic() - back_at
    # The producer of cut-2 got a 503 and tries again, as it was told to.
    retried, _ = await api.post("/v1/warnings", warning_json("cut-2", [village(2)]))
    everyone = trouble.phones_of(0, 1, 2)
    await eventually(lambda: set(trouble.sms_per_phone()) >= everyone, 30, "everyone")
    # Step 2 re-notifies the first warning's silent persons: the scheduler lived on.
    first = trouble.phones_of(0)
    await eventually(
        lambda: all(trouble.sms_per_phone()[p] >= 2 for p in first), 30, "step 2 fired"
    )
    await eventually(
        lambda: _no_claims(serve.db_url), 15, "send outcomes recorded after the outage"
    )
    resumed_after = time.monotonic() - back_at
    queues = await rabbit.drained()

    stored = await query(pg_url, "select identifier from messages order by identifier")
    dead = await query(pg_url, "select count(*) from dead_letters")
    figures(
        "store unreachable (PostgreSQL)",
        unreachable_s=round(away, 2),
        readyz_false_after_s=round(not_ready_after, 2),
        readyz_checks_while_away=checks,
        http_post_while_away=http_status,
        amqp_while_away={"ready": held[DISPATCH_QUEUE][0], "unacked": held[DISPATCH_QUEUE][1]},
        cpu_while_away_s=round(cpu, 3),
        watched_s=round(watched, 2),
        ready_again_after_s=round(ready_after, 2),
        all_done_after_s=round(resumed_after, 2),
    )
    assert checks.get("store") != "ok", checks
    assert http_status == 503, http_answer
    assert sum(held[DISPATCH_QUEUE]) == 1, "the delivery is held, neither lost nor settled"
    assert held[DEAD_QUEUE] == (0, 0) and queues[DEAD_QUEUE] == (0, 0), "nothing dead-lettered"
    assert queues[DISPATCH_QUEUE] == (0, 0), "acknowledged once stored"
    assert retried == 202
    assert [row.identifier for row in stored] == ["cut-0", "cut-1", "cut-2"]
    assert dead[0][0] == 0
    assert cpu < 0.1 * watched, "no busy loop while the store is unreachable"


async def _no_claims(db_url: str) -> bool:
    (claimed,) = (await query(db_url, "select count(*) from attempts where status = 'claimed'"))[0]
    return bool(claimed == 0)
