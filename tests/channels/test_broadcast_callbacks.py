"""Emergency broadcast end to end: the real jiaoying plays through the stand-in platform."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import text

from channels.base import Channel
from channels.broadcast import Broadcast
from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp
from dispatcher.core.roster import Roster
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.http.auth import SETTINGS
from dispatcher.http.broadcast_callbacks import PATH, add_broadcast_routes
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.standins.broadcast import BroadcastStandIn, callback_key


@dataclass
class Live:
    """jiaoying, running with the broadcast channel pointed at the stand-in."""

    app: web.Application
    client: TestClient[Any, Any]
    roster: Roster
    shift: timedelta = field(default_factory=shift_to_now)  # once: a Cancel moves as its alert

    async def post(self, example: str, **areas: str) -> str:
        """Post an example warning, moved in time so that it is sent now; its id.
        `areas` (description=geocode) replace the example's areas."""
        path = EXAMPLES / "warnings" / example
        data = warning_to_data(parse_warning(path.read_bytes(), "application/cap+xml"))
        if areas:
            data["identifier"] += "-" + "-".join(areas.values())
            data["infos"][0]["areas"] = [
                {"description": desc, "geocodes": [code], "polygons": [], "circles": []}
                for desc, code in areas.items()
            ]
        response = await self.client.post(
            "/v1/warnings",
            data=json.dumps(restamp(data, self.shift)),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert response.status == 202, await response.text()
        warning_id: str = (await response.json())["id"]
        return warning_id

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.app[ENGINE].db.reader.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def zones(self, warning_id: str) -> set[str]:
        """The loudspeaker zones of the grids the warning's recipients answer for."""
        rows = await self.rows(
            "select grid_codes from recipients where warning_id = :w", w=warning_id
        )
        grids = {code for row in rows for code in _codes(row.grid_codes)}
        return {zone.zone_id for zone in self.roster.zones_of_grids(grids)}

    async def nothing_claimed(self) -> bool:
        """Every claimed send has its result: no play is still on its way."""
        return not await self.rows("select id from attempts where status = 'claimed'")

    async def send(self, key: str) -> Any:
        """The send `key` once its own result is recorded (None while only claimed)."""
        rows = await self.rows(
            "select status, provider_id, error_reason, error_detail from attempts where key = :k",
            k=key,
        )
        return rows[0] if rows and rows[0].status != "claimed" else None


def _codes(value: Any) -> list[str]:
    return list(json.loads(value) if isinstance(value, str) else value)


@pytest.fixture
async def platform() -> AsyncIterator[BroadcastStandIn]:
    async with BroadcastStandIn() as server:
        yield server


@pytest.fixture
async def live(tmp_path: Path, platform: BroadcastStandIn) -> AsyncIterator[Live]:
    port = unused_port()
    settings = load_settings(
        {
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "JIAOYING_BROADCAST_URL": platform.url,
            "JIAOYING_BROADCAST_TOKEN": platform.token,
        }
    )
    assert settings.broadcast_url and settings.broadcast_token
    roster = load_roster(EXAMPLES / "roster")
    async with aiohttp.ClientSession() as session:
        channels: dict[str, Channel] = {
            "sms": RecordingChannel("sms"),
            "voice": RecordingChannel("voice"),
            "wechat": RecordingChannel("wechat"),
            "broadcast": Broadcast(
                session,
                url=settings.broadcast_url,
                token=settings.broadcast_token.get_secret_value(),
                public_url=settings.public_url,
            ),
        }
        app = build_app(
            settings,
            roster,
            load_policy(ROOT / "tests/data/fast-policy.yaml"),
            channels=lambda: dict(channels),
        )
        if not any(resource.canonical == PATH for resource in app.router.resources()):
            add_broadcast_routes(app)
        client = TestClient(TestServer(app, port=port))
        await client.start_server()
        try:
            yield Live(app, client, roster)
        finally:
            await client.close()


async def test_a_red_warning_plays_in_every_zone_and_a_play_report_answers_nobody(
    live: Live, platform: BroadcastStandIn
) -> None:
    zones = await live.zones(await live.post("red-rainstorm.xml"))
    assert len(zones) >= 3, "the example roster has loudspeakers in the area"

    await eventually(lambda: {play["zone_id"] for play in platform.plays} == zones)
    assert len(platform.plays) == len(zones), "one play per zone"
    assert all(play["severity"] == 1 and play["msg_type"] == 1 for play in platform.plays)
    key = callback_key(platform.plays[0]["callback_url"])
    await eventually(lambda: live.send(key))

    status, body = await platform.report(key, 3)

    assert (status, body) == (200, {"recorded": True})
    send = await live.send(key)
    assert send.status == "delivered"
    assert send.provider_id == platform.plays[0]["id"]
    assert not await live.rows("select id from answers")
    assert not await live.rows("select id from recipients where state = 'answered'")


async def test_a_zone_over_several_grids_plays_once_and_a_village_may_have_two(
    live: Live, platform: BroadcastStandIn
) -> None:
    # 河田镇 and 水唇镇: 13 grids, 8 loudspeaker zones, 新田村 with two (square and dam).
    warning_id = await live.post("red-rainstorm.xml")
    grids = await live.rows("select grid_codes from recipients where warning_id = :w", w=warning_id)
    assert len({code for row in grids for code in _codes(row.grid_codes)}) == 13

    expected = {
        "441523100001": "441523100001",
        "441523100201": "441523100201",
        "44152310020103140102": "441523100201",
        "441523100202": "441523100202",
        "441523100203": "441523100203",
        "441523101201": "441523101201",
        "441523101202": "441523101202",
        "441523101203": "441523101203",
    }
    await eventually(lambda: len(platform.plays) >= len(expected))
    await eventually(live.nothing_claimed)
    assert {play["zone_id"]: play["area_code"] for play in platform.plays} == expected
    assert len(platform.plays) == len(expected), "each zone plays once, not once per grid"
    assert len(platform.requests) == len(expected), "and is asked once"


async def test_a_zone_over_two_villages_plays_once_in_their_township(
    live: Live, platform: BroadcastStandIn
) -> None:
    # 东坑村 (two grids) and 大安村 share the market town's loudspeakers; 南告村 has its own.
    await live.post("red-rainstorm.xml", 东坑镇="441523103")

    await eventually(lambda: len(platform.plays) >= 2)
    await eventually(live.nothing_claimed)
    plays = sorted((play["zone_id"], play["area_code"]) for play in platform.plays)
    assert plays == [("441523103203", "441523103203"), ("LHDK-XU-01", "441523103000")]


async def test_a_cancel_stops_the_play_in_every_zone(
    live: Live, platform: BroadcastStandIn
) -> None:
    zones = await live.zones(await live.post("red-rainstorm.xml"))
    await eventually(lambda: {play["zone_id"] for play in platform.plays} == zones)

    await live.post("red-rainstorm-cancel.xml")

    await eventually(
        lambda: {play["zone_id"] for play in platform.plays if play["msg_type"] == 2} == zones
    )
    assert len({play["warning_id"] for play in platform.plays}) == 1, "the cancel names the plays"
    assert len({play["ebm_id"] for play in platform.plays}) == 2 * len(zones)


@pytest.mark.parametrize(
    ("state", "status"),
    [(1, "sent"), ("播发中", "sent"), ("播发成功", "delivered"), (4, "failed"), (5, "failed")],
)
async def test_play_states_move_the_zone_send(
    live: Live, platform: BroadcastStandIn, state: int | str, status: str
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: platform.plays)
    key = callback_key(platform.plays[0]["callback_url"])
    await eventually(lambda: live.send(key))

    reply_status, _ = await platform.report(key, state)

    assert reply_status == 200
    send = await live.send(key)
    assert send.status == status
    if status == "failed":
        assert send.error_reason == "unreachable"
        assert send.error_detail.startswith(("播发失败", "播发取消"))


async def test_a_forged_report_is_refused_and_changes_nothing(
    live: Live, platform: BroadcastStandIn
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: platform.plays)
    key = callback_key(platform.plays[0]["callback_url"])
    await eventually(lambda: live.send(key))

    status, _ = await platform.forge_report(key, 3)

    assert status == 403
    assert (await live.send(key)).status == "sent"


async def test_a_genuine_report_replayed_against_another_zone_is_refused(
    live: Live, platform: BroadcastStandIn
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: len(platform.plays) >= 2)
    first, second = (callback_key(play["callback_url"]) for play in platform.plays[:2])
    await eventually(lambda: live.send(second))

    status, _ = await platform.replay_report(first, 3, to=second)

    assert status == 403
    assert (await live.send(second)).status == "sent"


async def test_a_report_that_cannot_be_read_is_refused(
    live: Live, platform: BroadcastStandIn
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: platform.plays)
    key = callback_key(platform.plays[0]["callback_url"])

    status, body = await platform.report(key, "放完了")

    assert status == 422
    assert body["error"] == "unknown play state"


async def test_without_the_platform_configured_the_route_is_not_there() -> None:
    app = web.Application()
    app[SETTINGS] = load_settings({})
    add_broadcast_routes(app)
    async with TestClient(TestServer(app)) as client:
        assert (await client.post(f"{PATH}?key=k", data=b"{}")).status == 404
