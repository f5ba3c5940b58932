"""The scheduler claims in batches that fit the sender's window, and reaches everyone.

A claimed send that waits for the window would be made again after a crash without
having gone out; so a batch never claims more sends than the window has room for, and
the recipients it cannot fit keep their timers, still due, for the next batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from channels.base import Channel
from channels.registry import CHANNEL_NAMES
from dispatcher.core.cap import parse_cap
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp, shift_to
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from tests.engine.conftest import EXAMPLES, TOKEN, app_of, eventually
from tests.fakes import RecordingChannel
from tests.rosters import write_county

WINDOW = 8
PERSONS = 60
STEPS = """
  answer_within: 1h
  steps:
    - {after: 0s, notify: [sms, wechat]}
    - {after: 1h, unless: answered, notify: [sms]}
"""
POLICY = "".join(f"{level}:{STEPS}" for level in ("red", "orange", "yellow", "blue"))


async def _most_claimed(client: TestClient[Any, Any], stop: asyncio.Event) -> int:
    """The most sends claimed and not yet recorded at once, sampled until `stop`."""
    db = app_of(client)[ENGINE].db
    most = 0
    while not stop.is_set():
        async with db.reader.connect() as conn:
            claimed = (
                await conn.execute(text("SELECT count(*) FROM attempts WHERE status = 'claimed'"))
            ).scalar_one()
        most = max(most, int(claimed))
        await asyncio.sleep(0.005)
    return most


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingChannel]]:
    write_county(tmp_path / "roster", PERSONS, wechat=True)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    settings = load_settings(
        {
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_SEND_WINDOW": str(WINDOW),
        }
    )
    channels = {name: RecordingChannel(name) for name in CHANNEL_NAMES}
    channels["sms"].delay = channels["wechat"].delay = 0.02

    def make_channels() -> dict[str, Channel]:
        return dict(channels)

    app = build_app(
        settings,
        load_roster(tmp_path / "roster"),
        load_policy(tmp_path / "policy.yaml"),
        channels=make_channels,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, channels["sms"]
    finally:
        await client.close()


async def test_batches_fit_the_window_and_everyone_is_reached(
    service: tuple[TestClient[Any, Any], RecordingChannel],
) -> None:
    client, sms = service
    warning = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes())
    body = restamp(warning_to_data(warning), shift_to(warning.sent, datetime.now(UTC)))
    stop = asyncio.Event()
    watching = asyncio.create_task(_most_claimed(client, stop))
    response = await client.post(
        "/v1/warnings",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status == 202
    await eventually(lambda: len(sms.sent) >= PERSONS, within=30)
    stop.set()
    most = await watching
    assert len({notice.address for notice in sms.sent}) == PERSONS, "everyone, once"
    assert len(sms.sent) == PERSONS
    assert most <= WINDOW, f"{most} sends claimed at once, more than the window of {WINDOW}"
