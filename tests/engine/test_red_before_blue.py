"""Under a provider's rate cap a red warning is not queued behind a blue fan-out.

A blue warning to the whole county fans out at `JIAOYING_SEND_RATES=sms=60`; mid-way a red
warning to one village and a second blue warning to another are published. The red
warning's SMS go out next, before the blue sends already due; the second blue warning
takes turns with the county's instead of waiting for all of it; and in the end everybody
of all three has had their SMS once. The order is the one the provider sees.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.base import Channel
from channels.registry import CHANNEL_NAMES
from dispatcher.core.cap import parse_cap
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp, shift_to
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app
from tests.engine.conftest import EXAMPLES, TOKEN, eventually
from tests.fakes import RecordingChannel
from tests.pg import each_store
from tests.rosters import COUNTY, write_county

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

PERSONS = 300  # 15 villages of 20 grid persons
RATE = 60  # SMS a second: the county's fan-out takes 5 s
AHEAD = RATE // 2  # what the sender takes in ahead of a capped channel (0.5 s of its rate)
RED_VILLAGE, BLUE_VILLAGE = 7, 3
STEPS = "  answer_within: 1h\n  steps:\n    - {after: 0s, notify: [sms]}\n" + (
    "    - {after: 1h, unless: answered, notify: [sms]}\n"
)
POLICY = "".join(f"{level}:\n{STEPS}" for level in ("red", "orange", "yellow", "blue"))
CHINESE = {"red": "红色", "blue": "蓝色"}


def village(index: int) -> str:
    return f"{COUNTY}100{100 + index:03d}"


def warning(identifier: str, level: str, event: str, geocode: str) -> str:
    example = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes())
    data: dict[str, Any] = restamp(
        warning_to_data(example), shift_to(example.sent, datetime.now(UTC))
    )
    data["identifier"] = identifier
    info = data["infos"][0]
    info["level"] = level
    info["event"] = f"{event}{CHINESE[level]}预警"
    info["headline"] = (
        f"陆河县气象台发布{event}{CHINESE[level]}预警信号，请各网格责任人立即转告群众"
    )
    info["parameters"] = {
        key: CHINESE[level] if key == "预警级别" else value
        for key, value in info.get("parameters", {}).items()
    }
    info["areas"] = [
        {"description": f"陆河县 {geocode}", "geocodes": [geocode], "polygons": [], "circles": []}
    ]
    return json.dumps(data, ensure_ascii=False)


@pytest.fixture
async def service(
    tmp_path: Path, db_url: str
) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingChannel]]:
    write_county(tmp_path / "roster", PERSONS)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    settings = load_settings(
        {
            "JIAOYING_DB_URL": db_url,
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_SEND_RATES": f"sms={RATE}",
        }
    )
    channels = {name: RecordingChannel(name) for name in CHANNEL_NAMES}

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


async def _post(client: TestClient[Any, Any], body: str) -> str:
    response = await client.post(
        "/v1/warnings",
        data=body.encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    answer = await response.json()
    assert response.status == 202, answer
    return str(answer["id"])


async def test_a_red_warning_goes_before_the_blue_fan_out_under_a_rate_cap(
    service: tuple[TestClient[Any, Any], RecordingChannel],
) -> None:
    client, sms = service
    county = await _post(client, warning("county-gale", "blue", "大风", COUNTY))
    await eventually(lambda: len(sms.sent) >= RATE + 20, within=30)  # fan-out under way
    before = len(sms.sent)
    red = await _post(client, warning("xiaba-landslide", "red", "地质灾害", village(RED_VILLAGE)))
    town = await _post(client, warning("village-gale", "blue", "雷雨大风", village(BLUE_VILLAGE)))
    assert before < PERSONS // 2, "the county's fan-out had most of its way to go"
    await eventually(lambda: len(sms.sent) >= PERSONS + 40, within=60)

    order = [notice.warning_id for notice in sms.sent]
    after = order[before:]
    reds = [n for n, warning_id in enumerate(after) if warning_id == red]
    assert len(reds) == 20
    # Only the blue sends let through before the red ones were claimed may precede them:
    # what the rate starts while the scheduler waits for half its budget and claims (about
    # AHEAD), with room for a slow machine; first-come, the red ones came after all 220.
    assert reds[-1] < 20 + 3 * AHEAD, f"the red SMS came at {reds} after its publication"
    # The second blue warning takes turns with the county's: done long before the county.
    towns = [n for n, warning_id in enumerate(after) if warning_id == town]
    county_left = [n for n, warning_id in enumerate(after) if warning_id == county]
    assert len(towns) == 20
    assert towns[-1] < county_left[-100], "the village's blue warning waited for the county's"
    # Nothing lost, nothing twice: every recipient of each warning had one SMS.
    keys = [notice.key for notice in sms.sent]
    assert len(keys) == len(set(keys)) == PERSONS + 40
    assert order.count(county) == PERSONS
