"""A dispatcher killed (SIGKILL) mid fan-out and started again reaches everybody.

The service runs as a real process (`jiaoying serve`) against a Twilio stand-in in this
test's process, which counts every SMS per number. After the kill and a restart on the
same store, every grid person has had an SMS; the duplicates are at most the sends that
were in flight at the kill, and jiaoying's own count of possible duplicates is honest
(never below what really happened twice). Sizes and kill points stay small here;
RELIABILITY.md records the large runs (`JIAOYING_CRASH_SIZE`).
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

from dispatcher.cap import parse_cap
from dispatcher.jsonform import warning_to_data
from dispatcher.restamp import restamp, shift_to
from dispatcher.store import migrate
from dispatcher.store.db import open_database
from tests.rosters import County, write_county
from tests.standins.base import free_socket
from tests.standins.twilio import TwilioStandIn

ROOT = Path(__file__).resolve().parents[2]
SIZE = int(os.environ.get("JIAOYING_CRASH_SIZE", "1500"))
TOKEN = "crash-test-token-0123456789"
WINDOW = 64  # the sender's in-flight window in this test (JIAOYING_SEND_WINDOW)
POLICY = """
red:
  answer_within: 1h
  steps:
    - {after: 0s, notify: [sms]}
    - {after: 1h, unless: answered, escalate: supervisor, notify: [sms]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""


@dataclass
class Run:
    env: dict[str, str]
    url: str
    county: County
    standin: TwilioStandIn
    log: Path

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dispatcher.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def sms_per_phone(self) -> Counter[str]:
        return Counter(message.to for message in self.standin.messages.values())


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    county = write_county(tmp_path / "roster", SIZE)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    async with TwilioStandIn() as standin:
        port = free_socket().getsockname()[1]
        env = {
            **os.environ,
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
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
        db = open_database(env["JIAOYING_DB_URL"])
        await migrate.upgrade(db)
        await db.dispose()
        yield Run(env, f"http://127.0.0.1:{port}", county, standin, tmp_path / "serve.log")


async def _until_up(
    http: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "jiaoying serve exited"
        try:
            async with http.get(f"{url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("jiaoying serve did not become ready")


async def _post_red(http: aiohttp.ClientSession, url: str) -> str:
    warning = parse_cap((ROOT / "examples/warnings/red-rainstorm.xml").read_bytes())
    body = restamp(warning_to_data(warning), shift_to(warning.sent, datetime.now(UTC)))
    async with http.post(
        f"{url}/v1/warnings",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 202, answer
        return str(answer["id"])


async def _status(http: aiohttp.ClientSession, url: str, warning_id: str) -> dict[str, Any]:
    async with http.get(
        f"{url}/v1/warnings/{warning_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        status: dict[str, Any] = await response.json()
        return status


@pytest.mark.parametrize("kill_at", [0.15, 0.6])
async def test_a_killed_dispatcher_reaches_everyone_after_a_restart(
    run: Run, kill_at: float
) -> None:
    everyone = set(run.county.grid_phones)
    async with aiohttp.ClientSession() as http:
        first = run.start()
        try:
            await _until_up(http, run.url, first)
            warning_id = await _post_red(http, run.url)
            deadline = time.monotonic() + 60
            while len(run.standin.messages) < kill_at * SIZE:
                assert time.monotonic() < deadline, "the fan-out did not get going"
                await asyncio.sleep(0.005)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        sent_before = len(run.standin.messages)
        assert sent_before < SIZE, "the kill came after the fan-out had finished"

        second = run.start()
        try:
            await _until_up(http, run.url, second)
            deadline = time.monotonic() + 90
            while True:
                status = await _status(http, run.url, warning_id)
                claimed = status["sends"].get("sms:claimed", 0)
                if set(run.sms_per_phone()) >= everyone and claimed == 0:
                    break
                assert time.monotonic() < deadline, (
                    f"not everyone reached: {len(set(run.sms_per_phone()) & everyone)}/"
                    f"{SIZE}, {claimed} still claimed"
                )
                await asyncio.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, "a SIGTERM ends the service cleanly"

    per_phone = run.sms_per_phone()
    duplicates = sum(count - 1 for phone, count in per_phone.items() if phone in everyone)
    reported = status["possible_duplicate_sends"]
    print(
        f"\ncrash at {kill_at:.0%} of {SIZE}: {sent_before} sent before the kill, "
        f"{duplicates} SMS sent twice, {reported} reported as possible duplicates"
    )
    assert set(per_phone) >= everyone, "every grid person got the SMS"
    assert duplicates <= reported, "jiaoying never under-reports what it may have sent twice"
    assert reported <= WINDOW, "at most the in-flight window is made again"
    assert status["states"]["notified"] + status["states"]["delivered"] == SIZE
