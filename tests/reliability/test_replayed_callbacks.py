"""Genuine callbacks captured and sent again later are refused and change nothing.

A provider's signature says who made a request, not when. Twilio signs no timestamp:
a grid person's genuine "1", captured today and replayed next week, would answer the
person's new warnings. So a running `jiaoying serve` takes each inbound SMS once (by its
MessageSid) and each key press once (call, send key, digits); a WeChat push once (by
its signed timestamp and nonce), and none whose timestamp is over 5 minutes off.

The test plays it through: a first warning goes out; genuine callbacks arrive and are
captured byte for byte — an SMS "1", a key press "1", a WeChat delivery report, a Twilio
SMS status report, a loudspeaker play report; "a week later" a second warning goes out
to the same persons; then every capture is sent again, and WeChat pushes signed
correctly but 6 minutes stale or 6 minutes ahead arrive. The store — recipients,
answers, sends, receipts, outbox, audit — is compared before and after. Fresh genuine
callbacks at the end still work and change it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from channels.twilio_http import callback_url
from channels.twilio_voice import GATHER_PATH
from dispatcher.http.broadcast_callbacks import SIGNATURE_HEADER, report_signature
from dispatcher.http.twilio_callbacks import INBOUND_SMS_PATH
from tests.integration.conftest import bounded
from tests.reliability.harness import eventually, figures, query, village, warning_json
from tests.reliability.test_forged_callbacks import SNAPSHOT, Attacked, attacked
from tests.standins.twilio_wire import call_params, message_params
from tests.standins.wechat import job_finished_xml

__all__ = ["attacked"]

# Everything a replay could change, the receipts included.
STORE = {**SNAPSHOT, "receipts": "select kind, key from callback_receipts"}
PER_WARNING = 20 * 3 + 1  # one village: 20 persons × voice, SMS, WeChat; one play request


@dataclass(frozen=True)
class Captured:
    """A request exactly as it was sent: what an attacker on the way could keep."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    async def send(self, http: aiohttp.ClientSession) -> tuple[int, str]:
        async with http.post(
            URL(self.url, encoded=True), data=self.body, headers=self.headers
        ) as r:
            return r.status, await r.text()


def _form(params: Mapping[str, str]) -> bytes:
    return str(URL.build(query=dict(params)).query_string).encode()


def _twilio(attacked: Attacked, url: str, params: Mapping[str, str]) -> Captured:
    return Captured(
        url,
        _form(params),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": attacked.twilio.sign(url, params),
        },
    )


def _wechat(attacked: Attacked, body: str, *, skew: float = 0.0, nonce: str = "") -> Captured:
    """A WeChat push signed with the account's token, its timestamp `skew` s off now."""
    timestamp = str(int(time.time() + skew))
    nonce = nonce or str(time.monotonic_ns() % 10**10)
    joined = "".join(sorted((attacked.wechat.token, timestamp, nonce)))
    signature = hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - WeChat's protocol
    query = f"signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=oTestOpenid"
    return Captured(
        f"{attacked.wechat.callback_url}?{query}",
        body.encode(),
        {"Content-Type": "text/xml"},
    )


async def _store(attacked: Attacked) -> dict[str, list[tuple[Any, ...]]]:
    db_url = attacked.serve.db_url
    return {
        name: sorted(tuple(row) for row in await query(db_url, sql)) for name, sql in STORE.items()
    }


async def _recorded(db_url: str, warnings: int) -> bool:
    rows = await query(db_url, "select status, count(*) from attempts group by status")
    counts = {row[0]: row[1] for row in rows}
    return sum(counts.values()) >= PER_WARNING * warnings and not counts.get("claimed")


async def _state(db_url: str, identifier: str, phone_person: str) -> str:
    rows = await query(
        db_url,
        "select r.state from recipients r join warnings w on w.id = r.warning_id"
        " where w.identifier = :identifier and r.person_id = :person",
        identifier=identifier,
        person=phone_person,
    )
    return str(rows[0][0])


@bounded(90)
async def test_replayed_genuine_callbacks_are_refused_and_change_nothing(
    attacked: Attacked,
) -> None:
    api, twilio, wechat, platform = (
        attacked.api,
        attacked.twilio,
        attacked.wechat,
        attacked.platform,
    )
    db_url, public = attacked.serve.db_url, attacked.serve.url
    http = api.http
    status, body = await api.post("/v1/warnings", warning_json("replay-1", [village(0)]))
    assert status == 202, body
    await eventually(lambda: _recorded(db_url, 1), 20, "the first warning's sends recorded")

    # Today: genuine callbacks, each captured as it went.
    sms_person, key_person = "wg000000", "wg000001"
    sms_phone, key_phone = attacked.county.grid_phones[0], attacked.county.grid_phones[1]
    answer = _twilio(
        attacked,
        public + INBOUND_SMS_PATH,
        {
            "AccountSid": twilio.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": "1",
            "From": sms_phone,
            "MessageSid": twilio.new_id("SM"),
            "NumMedia": "0",
            "SmsStatus": "received",
            "To": "+12025550100",
        },
    )
    call = next(c for c in twilio.calls.values() if c.to == key_phone)
    key = URL(call.url).query["key"]
    press = _twilio(
        attacked,
        callback_url(public, GATHER_PATH, key),
        {
            **call_params(twilio.account_sid, call, "in-progress"),
            "Digits": "1",
            "FinishedOnKey": "",
        },
    )
    first_messages = list(wechat.messages)
    report = _wechat(
        attacked, job_finished_xml(first_messages[2]["msgid"], "success", "oTestOpenid")
    )
    sms = next(m for m in twilio.messages.values() if m.to == attacked.county.grid_phones[3])
    assert sms.status_callback
    delivered = _twilio(
        attacked,
        sms.status_callback,
        message_params(twilio.account_sid, sms, "delivered", None),
    )
    play = platform.plays[0]
    played = json.dumps(
        {"id": play["id"], "ebm_id": play["ebm_id"], "state": 3, "area_code": play["area_code"]}
    ).encode()
    play_report = Captured(
        play["callback_url"],
        played,
        {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: report_signature(platform.token, played),
        },
    )
    genuine = {
        "twilio inbound sms": await answer.send(http),
        "twilio key press": await press.send(http),
        "wechat delivery report": await report.send(http),
        "twilio sms status": await delivered.send(http),
        "broadcast play report": await play_report.send(http),
    }
    assert {name: status for name, (status, _) in genuine.items()} == {
        "twilio inbound sms": 200,
        "twilio key press": 200,
        "wechat delivery report": 200,
        "twilio sms status": 204,
        "broadcast play report": 200,
    }, genuine
    assert await _state(db_url, "replay-1", sms_person) == "answered"
    assert await _state(db_url, "replay-1", key_person) == "answered"

    # "Next week": a new warning for the same persons.
    status, body = await api.post("/v1/warnings", warning_json("replay-2", [village(0)]))
    assert status == 202, body
    await eventually(lambda: _recorded(db_url, 2), 20, "the second warning's sends recorded")
    assert await _state(db_url, "replay-2", sms_person) != "answered"
    before = await _store(attacked)

    second_messages = [m for m in wechat.messages if m not in first_messages]
    unreported = job_finished_xml(second_messages[0]["msgid"], "success", "oTestOpenid")
    replayed = {
        "twilio inbound sms": await answer.send(http),
        "twilio key press": await press.send(http),
        "wechat delivery report": await report.send(http),
        "wechat push 6 min stale": await _wechat(attacked, unreported, skew=-360).send(http),
        "wechat push 6 min ahead": await _wechat(attacked, unreported, skew=360).send(http),
        "twilio sms status": await delivered.send(http),
        "broadcast play report": await play_report.send(http),
    }
    after = await _store(attacked)
    still_open = await _state(db_url, "replay-2", sms_person)

    # Fresh genuine callbacks still work, and the comparison can see what they change.
    fresh_answer = await twilio.inbound_sms(sms_phone, "1")
    fresh_push = await _wechat(attacked, unreported).send(http)
    changed = await _store(attacked)
    statuses = {name: status for name, (status, _) in replayed.items()}
    figures(
        "replayed callbacks",
        replays=len(replayed),
        statuses=statuses,
        store_unchanged=after == before,
        fresh_answer_status=fresh_answer.status,
        fresh_push_status=fresh_push[0],
    )
    assert statuses == {
        "twilio inbound sms": 409,
        "twilio key press": 409,
        "wechat delivery report": 409,
        "wechat push 6 min stale": 403,
        "wechat push 6 min ahead": 403,
        # Reports only move a send forward: a replayed one finds it there already.
        "twilio sms status": 204,
        "broadcast play report": 200,
    }, replayed
    assert json.loads(replayed["broadcast play report"][1]) == {"recorded": False}
    assert after == before, [name for name in STORE if after[name] != before[name]]
    assert still_open != "answered", "the replayed SMS did not answer the new warning"
    assert fresh_answer.status == 200 and fresh_push == (200, "success")
    assert await _state(db_url, "replay-2", sms_person) == "answered"
    assert changed["attempts"] != before["attempts"], "the fresh report moved its send"
