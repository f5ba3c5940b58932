"""A dispatcher killed (SIGKILL) at the worst moments and started again reaches everybody.

The service runs as a real process (`jiaoying serve`) against a Twilio stand-in in this
test's process, which counts every SMS per number. Each case kills it at one point:

- mid fan-out, at 15 % and 60 % of the grid persons' SMS sent;
- between consuming the warning from RabbitMQ and committing it (the store's write lock
  is held meanwhile, so the delivery is provably consumed and not committed at the kill);
- between the provider's accepting an SMS and jiaoying's recording its id (the stand-in
  holds every answer back, so the whole in-flight window is in that state at the kill);
- while silent persons are being escalated, and while the supervisors' summons go out.

After a restart on the same store every grid person has had an SMS, the warning's
message was never lost, each silent person was escalated exactly once and every summons
was sent, the duplicates are at most the sends that were in flight at the kill (the
window), and jiaoying's own count of possible duplicates is honest: never below what
really happened twice. Sizes stay bounded here (1,500 grid persons); RELIABILITY.md
records the 10,000-recipient runs (`JIAOYING_CRASH_SIZE=10000`).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher.amqp.topology import DEAD_QUEUE, DISPATCH_QUEUE
from dispatcher.core.cap import parse_cap
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp, shift_to
from tests.reliability.conftest import Rabbit
from tests.reliability.harness import (
    EXAMPLES,
    Api,
    Serve,
    eventually,
    figures,
    prepare_store,
    query,
    serve_env,
    twilio_env,
)
from tests.rosters import County, write_county
from tests.standins.twilio import TwilioStandIn

SIZE = int(os.environ.get("JIAOYING_CRASH_SIZE", "1500"))
FAN_OUT_POINTS = [
    float(point) for point in os.environ.get("JIAOYING_CRASH_POINTS", "0.15,0.6").split(",")
]
WINDOW = 64  # the sender's in-flight window in this test (JIAOYING_SEND_WINDOW)
ESCALATE_AFTER = 6  # seconds from the warning's sent to the supervisor step
# Enough for the slowest part to finish after the restart: the fan-out of a large run.
SETTLE = 60 + SIZE // 100
POLICY = f"""
red:
  answer_within: 1h
  steps:
    - {{after: 0s, notify: [sms]}}
    - {{after: {ESCALATE_AFTER}s, unless: answered, escalate: supervisor, notify: [sms]}}
orange: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
yellow: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
blue: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
"""


@dataclass
class Crash:
    serve: Serve
    api: Api
    county: County
    standin: TwilioStandIn
    phones: dict[str, str]  # person id → phone

    def sms_per_phone(self) -> Counter[str]:
        return Counter(message.to for message in self.standin.messages.values())

    def grid_reached(self) -> int:
        return len(set(self.sms_per_phone()) & set(self.county.grid_phones))

    async def restart(self) -> float:
        """Start the service again; seconds until it is ready."""
        started = time.monotonic()
        self.serve.start()
        await self.serve.until_ready(self.api.http)
        return time.monotonic() - started


async def _crash(tmp_path: Path, amqp_url: str | None = None) -> AsyncIterator[Crash]:
    county = write_county(tmp_path / "roster", SIZE)
    with (county.directory / "persons.csv").open(encoding="utf-8") as file:
        phones = {row["id"]: row["phone"] for row in csv.DictReader(file)}
    async with TwilioStandIn() as standin, aiohttp.ClientSession() as http:
        extra = {
            **twilio_env(standin),
            "JIAOYING_SEND_WINDOW": str(WINDOW),
            "JIAOYING_PEER_TIMEOUT": "4",
            "JIAOYING_LOG_LEVEL": "WARNING",
        }
        if amqp_url is not None:
            extra["JIAOYING_AMQP_URL"] = amqp_url
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=extra)
        serve = Serve(env, tmp_path / "serve.log")
        await prepare_store(serve.db_url)
        crash = Crash(serve, Api(http, serve.url), county, standin, phones)
        try:
            yield crash
        finally:
            await serve.terminate()


@pytest.fixture
async def crash(tmp_path: Path) -> AsyncIterator[Crash]:
    async for running in _crash(tmp_path):
        yield running


@pytest.fixture
async def crash_over_amqp(tmp_path: Path, rabbit: Rabbit) -> AsyncIterator[Crash]:
    async for running in _crash(tmp_path, rabbit.url):
        yield running


def _red_now() -> bytes:
    warning = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes())
    data = restamp(warning_to_data(warning), shift_to(warning.sent, datetime.now(UTC)))
    return json.dumps(data).encode()


async def _post_red(crash: Crash) -> str:
    status, answer = await crash.api.post("/v1/warnings", _red_now())
    assert status == 202, answer
    return str(answer["id"])


async def _until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    await eventually(check, within=60, what=f"the fan-out did not get going: {what}")


async def _kill_when(crash: Crash, reached: Callable[[], bool | Awaitable[bool]]) -> None:
    await _until(reached, "kill point never reached")
    crash.serve.kill()


async def _recovered(crash: Crash, warning_id: str) -> dict[str, Any]:
    """Wait until everyone was reached, escalated and summoned; the final status."""
    everyone = set(crash.county.grid_phones)
    supervisors = set(crash.county.supervisor_phones[1:])  # the village secretaries
    deadline = time.monotonic() + SETTLE
    while True:
        status = await crash.api.warning(warning_id)
        reached = set(crash.sms_per_phone())
        escalated, pending_summons = await _escalation_progress(crash.serve.db_url, warning_id)
        if (
            reached >= everyone | supervisors
            and status["sends"].get("sms:claimed", 0) == 0
            and escalated == SIZE
            and pending_summons == 0
        ):
            return status
        assert time.monotonic() < deadline, (
            f"not recovered within {SETTLE} s: {len(reached & everyone)}/{SIZE} reached, "
            f"{len(reached & supervisors)}/{len(supervisors)} supervisors, "
            f"{escalated} escalated, {pending_summons} summons pending, "
            f"{status['sends']}"
        )
        await asyncio.sleep(0.25)


async def _escalation_progress(db_url: str, warning_id: str) -> tuple[int, int]:
    (escalated,) = (
        await query(db_url, "select count(*) from escalations where warning_id = :w", w=warning_id)
    )[0]
    (pending,) = (
        await query(
            db_url,
            "select count(*) from summons where warning_id = :w and eta is not null",
            w=warning_id,
        )
    )[0]
    return int(escalated), int(pending)


async def _escalated_count(crash: Crash) -> int:
    (count,) = (await query(crash.serve.db_url, "select count(*) from escalations"))[0]
    return int(count)


async def _check_and_report(
    crash: Crash,
    warning_id: str,
    kill_point: str,
    sent_before: int,
    restart_s: float,
    **measured: Any,
) -> int:
    """Stop the service, then hold every promise of a crash to account; returns how many
    SMS were sent twice."""
    status = await _recovered(crash, warning_id)
    await asyncio.sleep(0.5)  # a resend racing the last check would show by now
    assert await crash.serve.terminate() == 0, "a SIGTERM ends the service cleanly"
    db_url = crash.serve.db_url
    per_phone = crash.sms_per_phone()
    everyone = set(crash.county.grid_phones)
    grid_twice = sum(count - 1 for phone, count in per_phone.items() if phone in everyone)

    escalations = (
        await query(
            db_url,
            "select count(*), count(distinct recipient_id), count(summons_id) from escalations"
            " where warning_id = :w",
            w=warning_id,
        )
    )[0]
    summons = await query(
        db_url,
        "select s.id, s.person_id, count(a.id) as sends,"
        " sum(case when a.status = 'claimed' then 1 else 0 end) as claimed"
        " from summons s left join attempts a on a.summons_id = s.id"
        " where s.warning_id = :w group by s.id, s.person_id",
        w=warning_id,
    )
    summoned = Counter(row.person_id for row in summons)
    supervisor_twice = sum(
        max(0, per_phone[crash.phones[person]] - times) for person, times in summoned.items()
    )
    supervisor_missed = [
        person for person, times in summoned.items() if per_phone[crash.phones[person]] < times
    ]
    duplicates = grid_twice + supervisor_twice
    reported = status["possible_duplicate_sends"]
    figures(
        "process crash",
        kill_point=kill_point,
        recipients=SIZE,
        window=WINDOW,
        sent_before_kill=sent_before,
        restart_to_ready_s=round(restart_s, 2),
        sms_total=sum(per_phone.values()),
        sent_twice=duplicates,
        reported_possible_duplicates=reported,
        escalations=escalations[0],
        summons=len(summons),
        supervisors_summoned=len(summoned),
        **measured,
    )
    assert everyone <= set(per_phone), "every grid person got the SMS"
    assert escalations == (SIZE, SIZE, SIZE), (
        "each silent person escalated exactly once, and named in a summons"
    )
    assert all(row.sends == 1 and row.claimed == 0 for row in summons), (
        "every summons sent once, its outcome recorded"
    )
    assert not supervisor_missed, f"summons never reached: {supervisor_missed[:5]}"
    assert duplicates <= reported, "jiaoying never under-reports what it may have sent twice"
    assert reported <= WINDOW, "at most the in-flight window is made again"
    return duplicates


@pytest.mark.parametrize("fraction", FAN_OUT_POINTS, ids=lambda f: f"{f:.0%}")
async def test_killed_mid_fan_out(crash: Crash, fraction: float) -> None:
    crash.serve.start()
    await crash.serve.until_ready(crash.api.http)
    warning_id = await _post_red(crash)
    await _kill_when(crash, lambda: crash.grid_reached() >= fraction * SIZE)
    sent_before = len(crash.standin.messages)
    assert sent_before < SIZE, "the kill came after the fan-out had finished"
    restart = await crash.restart()
    await _check_and_report(crash, warning_id, f"fan-out {fraction:.0%}", sent_before, restart)


async def test_killed_between_the_providers_accepting_and_the_id_recorded(crash: Crash) -> None:
    """Every send in the window was accepted by the provider, and none recorded."""
    crash.standin.response_delay = 0.3
    crash.serve.start()
    await crash.serve.until_ready(crash.api.http)
    warning_id = await _post_red(crash)
    await _kill_when(crash, lambda: crash.grid_reached() >= 0.2 * SIZE)
    sent_before = len(crash.standin.messages)
    # The handlers whose client died were cancelled mid-wait: their SMS stay queued,
    # their ids never reached jiaoying.
    crash.standin.response_delay = 0.0
    restart = await crash.restart()
    duplicates = await _check_and_report(
        crash, warning_id, "provider accepted, id unrecorded", sent_before, restart
    )
    # Every send in flight was at the provider: the ones made again went out twice.
    assert duplicates > 0, "the kill found sends the provider took and jiaoying never heard of"


@pytest.mark.parametrize("moment", ["escalating", "summoning"])
async def test_killed_while_escalating(crash: Crash, moment: str) -> None:
    supervisors = set(crash.county.supervisor_phones[1:])

    def summoning() -> bool:
        return bool(supervisors & set(crash.sms_per_phone()))

    async def escalating() -> bool:
        return await _escalated_count(crash) > 0

    crash.serve.start()
    await crash.serve.until_ready(crash.api.http)
    warning_id = await _post_red(crash)
    await _kill_when(crash, escalating if moment == "escalating" else summoning)
    sent_before = len(crash.standin.messages)
    escalated_before = await _escalated_count(crash)
    restart = await crash.restart()
    await _check_and_report(
        crash,
        warning_id,
        f"while {moment}",
        sent_before,
        restart,
        escalated_before_kill=escalated_before,
    )


async def test_killed_between_consuming_the_warning_and_committing_it(
    crash_over_amqp: Crash, rabbit: Rabbit
) -> None:
    crash = crash_over_amqp
    crash.serve.start()
    await crash.serve.until_ready(crash.api.http)
    database = crash.serve.db_url.removeprefix("sqlite+aiosqlite:///")
    writer = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        # The ingest of the delivery blocks on this lock: consumed, and not committed.
        writer.execute("BEGIN IMMEDIATE")
        await rabbit.broker.publish(_red_now(), "application/json", routing_key="json.441523")
        await eventually(
            lambda: rabbit.queue_is(DISPATCH_QUEUE, 0, 1),
            within=10,
            what="the delivery was never taken",
        )
        crash.serve.kill()
        (stored,) = writer.execute("select count(*) from warnings").fetchone()
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    assert stored == 0, "nothing was committed before the kill"
    await eventually(
        lambda: rabbit.queue_is(DISPATCH_QUEUE, 1, 0),
        within=10,
        what="the unacknowledged delivery went back to the queue",
    )
    restart = await crash.restart()
    rows = await eventually(
        lambda: query(crash.serve.db_url, "select id from warnings"),
        within=30,
        what="the redelivered warning stored",
    )
    assert len(rows) == 1
    await _check_and_report(crash, rows[0].id, "consumed, not committed (AMQP)", 0, restart)
    queues = await rabbit.drained()
    assert queues[DISPATCH_QUEUE] == (0, 0), "acknowledged once stored"
    assert queues[DEAD_QUEUE] == (0, 0), "a crash is no reason to dead-letter"
