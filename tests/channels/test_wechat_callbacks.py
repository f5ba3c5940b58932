"""WeChat end to end: the real jiaoying sends through the stand-in and hears its pushes."""

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
from channels.wechat import WeChatTemplate
from channels.wechat_token import AccessTokens
from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp
from dispatcher.core.roster import Roster
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.http.auth import SETTINGS
from dispatcher.http.wechat_callbacks import PATH, add_wechat_routes, job_outcome
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from tests.engine.conftest import EXAMPLES, LINK_SECRET, ROOT, TOKEN, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.standins.wechat import WeChatStandIn


@dataclass
class Live:
    """jiaoying, running with WeChat pointed at the stand-in."""

    app: web.Application
    client: TestClient[Any, Any]
    wechat: WeChatStandIn
    roster: Roster
    public_url: str
    shift: timedelta = field(default_factory=shift_to_now)  # once: a Cancel moves as its alert

    async def post(self, example: str) -> str:
        """Post an example warning, moved in time so that it is sent now; its id."""
        path = EXAMPLES / "warnings" / example
        data = warning_to_data(parse_warning(path.read_bytes(), "application/cap+xml"))
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

    async def followers(self, warning_id: str) -> set[str]:
        """The openids of the warning's recipients who have one."""
        rows = await self.rows(
            "select person_id from recipients where warning_id = :w", w=warning_id
        )
        openids = {self.roster.persons[row.person_id].wechat_openid for row in rows}
        return {openid for openid in openids if openid}

    async def send_of(self, msgid: int) -> Any:
        rows = await self.rows(
            "select status, error_reason, recipient_id from attempts where provider_id = :p",
            p=str(msgid),
        )
        return rows[0] if rows else None


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatStandIn]:
    async with WeChatStandIn() as server:
        yield server


@pytest.fixture
async def live(tmp_path: Path, wechat: WeChatStandIn) -> AsyncIterator[Live]:
    port = unused_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        {
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_LINK_SECRET": LINK_SECRET,
            "JIAOYING_PUBLIC_URL": public_url,
            "JIAOYING_WECHAT_APPID": wechat.appid,
            "JIAOYING_WECHAT_SECRET": wechat.appsecret,
            "JIAOYING_WECHAT_TEMPLATE_ID": "tpl-warning-1",
            "JIAOYING_WECHAT_TOKEN": wechat.token,
            "JIAOYING_WECHAT_API_BASE": wechat.url,
        }
    )
    assert settings.wechat_appid and settings.wechat_secret and settings.wechat_template_id
    roster = load_roster(EXAMPLES / "roster")
    async with aiohttp.ClientSession() as session:
        tokens = AccessTokens(
            session,
            api_base=settings.wechat_api_base,
            appid=settings.wechat_appid,
            appsecret=settings.wechat_secret.get_secret_value(),
        )
        channels: dict[str, Channel] = {
            "sms": RecordingChannel("sms"),
            "voice": RecordingChannel("voice"),
            "broadcast": RecordingChannel("broadcast"),
            "wechat": WeChatTemplate(
                session,
                tokens,
                template_id=settings.wechat_template_id,
                api_base=settings.wechat_api_base,
            ),
        }
        app = build_app(
            settings,
            roster,
            load_policy(ROOT / "tests/data/fast-policy.yaml"),
            channels=lambda: dict(channels),
        )
        if not any(resource.canonical == PATH for resource in app.router.resources()):
            add_wechat_routes(app)
        client = TestClient(TestServer(app, port=port))
        await client.start_server()
        wechat.callback_url = f"{public_url}{PATH}"
        try:
            yield Live(app, client, wechat, roster, public_url)
        finally:
            await client.close()


async def test_a_red_warning_reaches_every_follower_and_delivery_is_not_an_answer(
    live: Live, wechat: WeChatStandIn
) -> None:
    openids = await live.followers(await live.post("red-rainstorm.xml"))
    assert len(openids) >= 5, "the example roster has followers in the area"

    await eventually(lambda: openids <= {m["touser"] for m in wechat.messages})
    first = {m["touser"]: m for m in reversed(wechat.messages)}
    for openid in openids:
        assert first[openid]["url"].startswith(f"{live.public_url}/a/")
        assert first[openid]["data"]["keyword1"]["value"] == "暴雨红色预警"
    assert wechat.token_fetches == 1

    message = first[sorted(openids)[0]]
    msgid = message["msgid"]
    await eventually(lambda: live.send_of(msgid))
    assert (await live.send_of(msgid)).status == "sent"

    status, body = await wechat.job_finished(msgid, "success")

    assert (status, body) == (200, "success")
    send = await live.send_of(msgid)
    assert send.status == "delivered"
    (recipient,) = await live.rows(
        "select state, answered_at from recipients where id = :r", r=send.recipient_id
    )
    assert recipient.state == "delivered"
    assert recipient.answered_at is None
    assert not await live.rows("select id from answers")


async def test_a_forged_report_is_refused_and_changes_nothing(
    live: Live, wechat: WeChatStandIn
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: wechat.messages)
    msgid = wechat.messages[0]["msgid"]
    await eventually(lambda: live.send_of(msgid))

    status, _ = await wechat.forge_job_finished(msgid, "success")

    assert status == 403
    assert (await live.send_of(msgid)).status == "sent"


async def test_a_blocked_account_rejects_the_send(live: Live, wechat: WeChatStandIn) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: wechat.messages)
    msgid = wechat.messages[0]["msgid"]
    await eventually(lambda: live.send_of(msgid))

    assert await wechat.job_finished(msgid, "failed:user block") == (200, "success")

    send = await live.send_of(msgid)
    assert (send.status, send.error_reason) == ("rejected", "unsubscribed")


async def test_a_report_arriving_before_the_send_result_is_still_recorded(
    live: Live, wechat: WeChatStandIn
) -> None:
    # WeChat pushes TEMPLATESENDJOBFINISH while jiaoying is still handling the reply to the
    # send, before its msgid is written; the callback waits for it briefly.
    wechat.report_on_send = "success"
    openids = await live.followers(await live.post("red-rainstorm.xml"))
    await eventually(lambda: openids <= {m["touser"] for m in wechat.messages})
    await eventually(lambda: len(wechat.pushes) == len(wechat.messages))

    assert set(wechat.pushes) == {(200, "success")}
    for message in wechat.messages:
        assert (await live.send_of(message["msgid"])).status == "delivered"


async def test_a_typed_reply_and_an_unknown_msgid_are_acknowledged_but_answer_nothing(
    live: Live, wechat: WeChatStandIn
) -> None:
    await live.post("red-rainstorm.xml")
    await eventually(lambda: wechat.messages)
    openid = wechat.messages[0]["touser"]

    assert await wechat.push_text("收到", openid=openid) == (200, "success")
    assert await wechat.job_finished(999, "success") == (200, "success")

    assert not await live.rows("select id from answers")
    assert not await live.rows("select id from recipients where state = 'answered'")


async def test_url_verification_echoes_only_for_the_right_signature(
    live: Live, wechat: WeChatStandIn
) -> None:
    assert await wechat.verify_url("5837397520146510") == (200, "5837397520146510")
    status, body = await wechat.verify_url("5837397520146510", token="guessed")
    assert status == 403
    assert "5837397520146510" not in body


async def test_without_wechat_configured_the_routes_are_not_there() -> None:
    app = web.Application()
    app[SETTINGS] = load_settings({})
    add_wechat_routes(app)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get(PATH)).status == 404
        assert (await client.post(PATH, data=b"<xml/>")).status == 404


@pytest.mark.parametrize(
    ("reported", "outcome"),
    [
        ("success", ("delivered", None)),
        ("failed:user block", ("rejected", "unsubscribed")),
        ("failed: user block", ("rejected", "unsubscribed")),
        ("failed: system failed", ("failed", "server_error")),
        ("", ("failed", "server_error")),
    ],
)
def test_job_outcomes(reported: str, outcome: tuple[str, str | None]) -> None:
    assert job_outcome(reported) == outcome


async def test_a_link_answer_after_delivery_is_the_answer(
    live: Live, wechat: WeChatStandIn
) -> None:
    # Delivered is a step on the way; the signed link is what answers.
    await live.post("red-rainstorm.xml")
    await eventually(lambda: wechat.messages)
    message = wechat.messages[0]
    await eventually(lambda: live.send_of(message["msgid"]))
    await wechat.job_finished(message["msgid"])
    send = await live.send_of(message["msgid"])

    pressed = await live.client.post(message["url"].removeprefix(live.public_url))

    assert pressed.status == 200
    (recipient,) = await live.rows(
        "select state from recipients where id = :r", r=send.recipient_id
    )
    assert recipient.state == "answered"
    assert [a.via for a in await live.rows("select via from answers")] == ["link"]
