"""Forged callbacks, on every provider route of a running `jiaoying serve`, change nothing.

A red warning has gone out by voice, SMS, WeChat and the loudspeakers, through the
stand-ins; the test then plays the attacker. Each request carries real keys, real
provider ids and real phone numbers (so that, were it believed, it would answer for a
person, mark a send delivered or a call completed), but a missing, wrong or replayed
signature, or a tampered answer link. Every one is refused, and the store — recipients,
answers, sends, escalations, tasks, events, audit — is exactly as it was. One genuine
callback at the end does change it: the comparison can see a change.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator
from yarl import URL

from channels.twilio_http import callback_url
from channels.twilio_voice import GATHER_PATH
from dispatcher.http.twilio_callbacks import INBOUND_SMS_PATH
from dispatcher.http.wechat_callbacks import PATH as WECHAT_PATH
from tests.integration.conftest import bounded
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
from tests.standins.broadcast import BroadcastStandIn
from tests.standins.twilio import TwilioStandIn
from tests.standins.twilio_wire import call_params, message_params
from tests.standins.wechat import WeChatStandIn, job_finished_xml, signed_query

PERSONS = 40
POLICY = """
red:
  answer_within: 1h
  steps:
    - {after: 0s, notify: [voice, sms, wechat]}
    - {after: 0s, broadcast: true}
    - {after: 1h, unless: answered, escalate: supervisor, notify: [sms]}
orange: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
yellow: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
blue: {answer_within: 1h, steps: [{after: 0s, notify: [sms]}]}
"""
# Everything a callback could change, in an order that makes two snapshots comparable.
SNAPSHOT = {
    "recipients": "select id, state, answered_at, escalation, revision, note from recipients",
    "answers": "select id, recipient_id, via, by from answers",
    "attempts": "select id, status, provider_id, error_reason, updated_at from attempts",
    "escalations": "select id, recipient_id, summons_id from escalations",
    "summons": "select id, eta, answered_at from summons",
    "tasks": "select id, status, reported_at from tasks",
    "timers": "select recipient_id, eta, token from timers",
    "outbox": "select count(*) from outbox",
    "audit": "select count(*) from audit",
}
ANSWER_LINK = re.compile(r"https?://\S+/a/[A-Za-z0-9_\-.~]+")


@dataclass
class Attacked:
    serve: Serve
    api: Api
    county: County
    twilio: TwilioStandIn
    wechat: WeChatStandIn
    platform: BroadcastStandIn

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            name: sorted(tuple(row) for row in await query(self.serve.db_url, sql))
            for name, sql in SNAPSHOT.items()
        }

    async def post(self, url: str, **options: Any) -> int:
        async with self.api.http.post(URL(url, encoded=True), **options) as response:
            return response.status


@pytest.fixture
async def attacked(tmp_path: Path) -> AsyncIterator[Attacked]:
    county = write_county(tmp_path / "roster", PERSONS, per_village=20, wechat=True)
    async with (
        TwilioStandIn() as twilio,
        WeChatStandIn() as wechat,
        BroadcastStandIn() as platform,
        aiohttp.ClientSession() as http,
    ):
        extra = {
            **twilio_env(twilio),
            "JIAOYING_WECHAT_APPID": wechat.appid,
            "JIAOYING_WECHAT_SECRET": wechat.appsecret,
            "JIAOYING_WECHAT_TEMPLATE_ID": "tpl-warning-1",
            "JIAOYING_WECHAT_TOKEN": wechat.token,
            "JIAOYING_WECHAT_API_BASE": wechat.url,
            "JIAOYING_BROADCAST_URL": platform.url,
            "JIAOYING_BROADCAST_TOKEN": platform.token,
            "JIAOYING_LINK_SECRET": "reliability-link-secret-" + "k" * 16,
        }
        env = serve_env(tmp_path, roster=county.directory, policy=POLICY, extra=extra)
        serve = Serve(env, tmp_path / "serve.log")
        twilio.callbacks = serve.url
        wechat.callback_url = serve.url + WECHAT_PATH
        await prepare_store(serve.db_url)
        serve.start()
        try:
            await serve.until_ready(http)
            yield Attacked(serve, Api(http, serve.url), county, twilio, wechat, platform)
        finally:
            await serve.terminate()


@bounded(60)
async def test_forged_callbacks_on_every_route_change_nothing(attacked: Attacked) -> None:
    status, answer = await attacked.api.post(
        "/v1/warnings", warning_json("forged-1", [village(0), village(1)])
    )
    assert status == 202, answer
    await eventually(lambda: _all_recorded(attacked.serve.db_url), 20, "every send recorded")
    # Two villages of 20 grids each: each village's loudspeakers play once, not once a grid.
    plays = sorted((play["zone_id"], play["area_code"]) for play in attacked.platform.plays)
    assert plays == [(village(0), village(0)), (village(1), village(1))]
    before = await attacked.snapshot()

    refused: dict[str, list[int]] = {}
    for name, status in [*await _forge_twilio(attacked), *await _forge_wechat(attacked)]:
        refused.setdefault(name, []).append(status)
    for name, status in [*await _forge_broadcast(attacked), *await _forge_links(attacked)]:
        refused.setdefault(name, []).append(status)
    after = await attacked.snapshot()

    phone = attacked.county.grid_phones[0]
    genuine = await attacked.twilio.inbound_sms(phone, "1")
    changed = await attacked.snapshot()
    figures(
        "forged callbacks",
        routes=len(refused),
        forged_requests=sum(len(statuses) for statuses in refused.values()),
        statuses=sorted({status for statuses in refused.values() for status in statuses}),
        store_unchanged=after == before,
        genuine_reply_status=genuine.status,
    )
    for name, statuses in refused.items():
        assert all(400 <= status < 500 for status in statuses), (name, statuses)
    assert after == before, [name for name in SNAPSHOT if after[name] != before[name]]
    assert genuine.status == 200 and changed["answers"] != before["answers"], (
        "a genuine answer does change the store: the comparison can see a change"
    )


async def _all_recorded(db_url: str) -> bool:
    rows = await query(db_url, "select status, count(*) from attempts group by status")
    counts = {row[0]: row[1] for row in rows}
    return sum(counts.values()) >= PERSONS * 3 + 2 and not counts.get("claimed")


def _variants(
    twilio: TwilioStandIn, url: str, params: dict[str, str], elsewhere: str
) -> list[dict[str, str]]:
    """The signatures an attacker can offer: none, a guessed token's, one Twilio made for
    another URL (replayed), one over other values (tampered)."""
    tampered = {**params, "AccountSid": "AC" + "0" * 32}
    return [
        {},
        {"X-Twilio-Signature": RequestValidator("guessed-token").compute_signature(url, params)},
        {"X-Twilio-Signature": twilio.sign(elsewhere, params)},
        {"X-Twilio-Signature": twilio.sign(url, tampered)},
    ]


async def _forge_twilio(attacked: Attacked) -> list[tuple[str, int]]:
    twilio, public = attacked.twilio, attacked.serve.url
    messages = list(twilio.messages.values())
    calls = list(twilio.calls.values())
    sms, other_sms, call, other_call = messages[0], messages[1], calls[0], calls[1]
    call_key = URL(call.url).query["key"]
    other_key = URL(other_call.url).query["key"]
    pressed = {**call_params(twilio.account_sid, call, "in-progress"), "Digits": "1"}
    routes = {
        "twilio sms status": (
            str(sms.status_callback),
            message_params(twilio.account_sid, sms, "delivered", None),
            str(other_sms.status_callback),
        ),
        "twilio call status": (
            str(call.status_callback),
            {**call_params(twilio.account_sid, call, "completed"), "CallDuration": "20"},
            str(other_call.status_callback),
        ),
        "twilio answering machine": (
            str(call.amd_callback or callback_url(public, "/callbacks/twilio/amd", call_key)),
            {"AccountSid": twilio.account_sid, "CallSid": call.sid, "AnsweredBy": "human"},
            callback_url(public, "/callbacks/twilio/amd", other_key),
        ),
        "twilio voice": (
            call.url,
            call_params(twilio.account_sid, call, "in-progress"),
            other_call.url,
        ),
        "twilio key press": (
            callback_url(public, GATHER_PATH, call_key),
            pressed,
            callback_url(public, GATHER_PATH, other_key),
        ),
        "twilio inbound sms": (
            public + INBOUND_SMS_PATH,
            {
                "AccountSid": twilio.account_sid,
                "From": attacked.county.grid_phones[1],
                "To": "+12025550100",
                "Body": "1",
                "MessageSid": "SM" + "f" * 32,
            },
            public + INBOUND_SMS_PATH + "?replayed=1",
        ),
    }
    results = []
    for name, (url, params, elsewhere) in routes.items():
        for headers in _variants(twilio, url, params, elsewhere):
            results.append((name, await attacked.post(url, data=params, headers=headers)))
    return results


async def _forge_wechat(attacked: Attacked) -> list[tuple[str, int]]:
    wechat = attacked.wechat
    openid = wechat.messages[0]["touser"]
    msgid = wechat.messages[0]["msgid"]
    text = (
        f"<xml><ToUserName><![CDATA[gh_jiaoying]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>1</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[1]]></Content>"
        f"<MsgId>1</MsgId></xml>"
    )
    results = []
    for body in (job_finished_xml(msgid, "success", openid), text):
        for query_string in (
            {},
            {**signed_query(wechat.token + "x"), "openid": openid},
            {**signed_query("guessed"), "openid": openid},
        ):
            status = await attacked.post(
                wechat.callback_url,
                params=query_string,
                data=body.encode(),
                headers={"Content-Type": "text/xml"},
            )
            results.append(("wechat event", status))
    status, _ = await wechat.forge_job_finished(msgid, "success", openid=openid)
    results.append(("wechat event", status))
    status, _ = await wechat.verify_url("echo", token="guessed")
    results.append(("wechat url verification", status))
    return results


async def _forge_broadcast(attacked: Attacked) -> list[tuple[str, int]]:
    plays = attacked.platform.plays
    first, second = plays[0]["id"], plays[1]["id"]
    forged, _ = await attacked.platform.forge_report(first, 3)
    replayed, _ = await attacked.platform.replay_report(first, 3, to=second)
    unsigned = await attacked.post(plays[0]["callback_url"], json={"id": first, "state": 3})
    return [("broadcast play report", status) for status in (forged, replayed, unsigned)]


async def _forge_links(attacked: Attacked) -> list[tuple[str, int]]:
    links = [
        link
        for message in attacked.twilio.messages.values()
        for link in ANSWER_LINK.findall(message.body)
    ]
    assert links, "the SMS carry answer links"
    link = links[0]
    head, _, token = link.rpartition("/")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    results = []
    for forged in (flipped, token[: len(token) // 2], "x" * len(token)):
        results.append(("answer link", await attacked.post(f"{head}/{forged}")))
    return results
