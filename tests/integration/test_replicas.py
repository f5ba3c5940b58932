"""Three `jiaoying serve` replicas on one PostgreSQL and one RabbitMQ, one of them killed.

No leader: each replica claims due steps with FOR UPDATE SKIP LOCKED. A red warning with
an escalation step goes out to a synthetic county; one replica is SIGKILLed mid fan-out.
In the end every grid person has had the SMS, every silent person's supervisor was
summoned exactly once per step (one SMS naming them), and the duplicates are at most the
killed replica's in-flight window — the test prints how many there were.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from dispatcher.core.cap import parse_cap
from dispatcher.core.restamp import restamp_cap, shift_to
from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.schema import summons
from tests.integration.conftest import AMQP_URL, Broker, example
from tests.rosters import County, write_county
from tests.standins.base import free_socket
from tests.standins.twilio import TwilioStandIn

ROOT = Path(__file__).resolve().parents[2]
SIZE = int(os.environ.get("JIAOYING_REPLICA_SIZE", "3000"))
REPLICAS = 3
WINDOW = 64
TOKEN = "replica-test-token-0123456789"
ESCALATE_AFTER = 15  # seconds: after the kill and the takeover of the dead replica's sends
POLICY = f"""
red:
  answer_within: {ESCALATE_AFTER}s
  steps:
    - {{after: 0s, notify: [sms]}}
    - {{after: {ESCALATE_AFTER}s, unless: answered, escalate: supervisor, notify: [sms]}}
orange: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
yellow: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
blue: {{answer_within: 1h, steps: [{{after: 0s, notify: [sms]}}]}}
"""


@dataclass
class Cluster:
    county: County
    standin: TwilioStandIn
    envs: list[dict[str, str]]
    logs: Path

    def start(self, index: int) -> subprocess.Popen[bytes]:
        with (self.logs / f"replica-{index}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dispatcher.cli", "serve"],
                env=self.envs[index],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def url(self, index: int) -> str:
        return self.envs[index]["JIAOYING_PUBLIC_URL"]

    def sms_to(self, phones: set[str]) -> Counter[str]:
        return Counter(m.to for m in self.standin.messages.values() if m.to in phones)


@pytest.fixture
async def cluster(broker: Broker, pg_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    county = write_county(tmp_path / "roster", SIZE)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    db = open_database(pg_url)
    await migrate.upgrade(db)
    await db.dispose()
    async with TwilioStandIn() as standin:
        envs = []
        for _ in range(REPLICAS):
            port = free_socket().getsockname()[1]
            envs.append(
                {
                    **os.environ,
                    "JIAOYING_DB_URL": pg_url,
                    "JIAOYING_AMQP_URL": AMQP_URL,
                    "JIAOYING_HTTP_PORT": str(port),
                    "JIAOYING_PUBLIC_URL": f"http://127.0.0.1:{port}",
                    "JIAOYING_ROSTER_DIR": str(county.directory),
                    "JIAOYING_POLICY": str(tmp_path / "policy.yaml"),
                    "JIAOYING_API_TOKENS": f"test:{TOKEN}",
                    "JIAOYING_TWILIO_ACCOUNT_SID": standin.account_sid,
                    "JIAOYING_TWILIO_AUTH_TOKEN": standin.auth_token,
                    "JIAOYING_TWILIO_FROM": "+12025550100",
                    "JIAOYING_TWILIO_API_BASE": standin.url,
                    "JIAOYING_SEND_WINDOW": str(WINDOW),
                    "JIAOYING_PEER_TIMEOUT": "4",
                    "JIAOYING_LOG_LEVEL": "WARNING",
                }
            )
        yield Cluster(county, standin, envs, tmp_path)


async def _ready(http: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        assert process.poll() is None, "a replica exited at start"
        try:
            async with http.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not become ready")


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_three_replicas_one_killed_reach_everyone_and_escalate_once(
    broker: Broker, cluster: Cluster
) -> None:
    grid_phones = set(cluster.county.grid_phones)
    supervisor_phones = set(cluster.county.supervisor_phones) - {
        cluster.county.supervisor_phones[0]
    }
    processes = [cluster.start(i) for i in range(REPLICAS)]
    try:
        async with aiohttp.ClientSession() as http:
            for i, process in enumerate(processes):
                await _ready(http, cluster.url(i), process)
            alert = example("red-rainstorm.xml")
            shift = shift_to(parse_cap(alert).sent, datetime.now(UTC))
            await broker.publish(restamp_cap(alert, shift), "application/cap+xml")

            deadline = time.monotonic() + 60
            while sum(cluster.sms_to(grid_phones).values()) < 0.3 * SIZE:
                assert time.monotonic() < deadline, "the fan-out did not get going"
                await asyncio.sleep(0.01)
            victim = processes[1]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed_at = sum(cluster.sms_to(grid_phones).values())

            survivor = cluster.url(0)
            (warning,) = (await _get(http, f"{survivor}/v1/warnings"))["warnings"]
            deadline = time.monotonic() + ESCALATE_AFTER + 90
            while True:
                status = await _get(http, f"{survivor}/v1/warnings/{warning['id']}")
                reached = set(cluster.sms_to(grid_phones))
                summoned = set(cluster.sms_to(supervisor_phones))
                claimed = status["sends"].get("sms:claimed", 0)
                gathering = await _summons(cluster.envs[0]["JIAOYING_DB_URL"], gathering=True)
                if (
                    reached == grid_phones
                    and summoned == supervisor_phones
                    and not claimed
                    and not gathering
                ):
                    break
                assert time.monotonic() < deadline, (
                    f"reached {len(reached)}/{SIZE}, supervisors {len(summoned)}/"
                    f"{len(supervisor_phones)}, {claimed} claimed"
                )
                await asyncio.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            if process is not processes[1]:
                assert process.wait(30) == 0, "a SIGTERM ends a replica cleanly"

    alerts = cluster.sms_to(grid_phones)
    summons_sent = sum(cluster.sms_to(supervisor_phones).values())
    summons_rows = await _summons(cluster.envs[0]["JIAOYING_DB_URL"])
    duplicate_alerts = sum(n - 1 for n in alerts.values())
    # A supervisor may rightly get a second summons when some of their silent persons came
    # due after the first had gone out; every summons row is one SMS, more is a duplicate.
    duplicate_summons = summons_sent - summons_rows
    reported = status["possible_duplicate_sends"]
    print(
        f"\n{REPLICAS} replicas, {SIZE} recipients, one killed after {killed_at} SMS: "
        f"{duplicate_alerts} alert SMS and {duplicate_summons} supervisor SMS sent twice, "
        f"{reported} reported as possible duplicates"
    )
    assert duplicate_alerts + duplicate_summons <= reported <= WINDOW
    assert status["escalations_by_level"] == {"1": SIZE}, "every silent person escalated once"
    assert status["states"]["notified"] + status["states"]["delivered"] == SIZE
    for body in (m.body for m in cluster.standin.messages.values() if m.to in supervisor_phones):
        assert "未确认" in body, "the supervisor's SMS is the escalation naming the silent"
    assert json.dumps(status)  # the summary is plain JSON for the logs of a failed run


async def _summons(db_url: str, *, gathering: bool = False) -> int:
    """How many summons rows there are (only those still gathering, with `gathering`)."""
    query = select(func.count()).select_from(summons)
    if gathering:
        query = query.where(summons.c.eta.is_not(None))
    db = open_database(db_url)
    try:
        async with db.reader.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
    finally:
        await db.dispose()
