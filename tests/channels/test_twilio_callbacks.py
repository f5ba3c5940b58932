"""Twilio end to end: the real jiaoying (store, scheduler, HTTP) sending through the real
SDK to the Twilio stand-in, and the stand-in's signed callbacks coming back.

Fast test policy (tests/data/fast-policy.yaml): everyone at once, voice again at 1.5 s,
the supervisor at 3 s.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application
from defusedxml import ElementTree
from twilio.request_validator import RequestValidator

from channels.base import Channel
from channels.twilio_http import TwilioApi
from channels.twilio_sms import TwilioSms
from channels.twilio_voice import TwilioVoice
from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.core.roster import Person
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.http.twilio_callbacks import add_twilio_routes
from dispatcher.runtime.logs import configure_logging
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, Jiaoying, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.standins.base import free_socket
from tests.standins.twilio import TwilioCall, TwilioMessage, TwilioStandIn

RED = "red-rainstorm.xml"
TWILIO_FROM = "+15005550006"
NOT_THE_TOKEN = "some-other-token-" + "9f" * 8


@dataclass
class Rig:
    """jiaoying on a known public URL, with Twilio SMS and voice pointed at the stand-in."""

    jiaoying: Jiaoying
    standin: TwilioStandIn
    public_url: str

    @property
    def client(self) -> TestClient[Any, Any]:
        return self.jiaoying.client

    def persons(self) -> dict[str, Person]:
        warning = parse_cap((EXAMPLES / "warnings" / RED).read_bytes())
        resolution = resolve(warning.areas, self.jiaoying.roster)
        return {t.person.id: t.person for t in resolution.recipients if t.person.phone}

    async def summary(self, warning_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/warnings/{warning_id}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body

    async def recipient(self, person_id: str) -> Any:
        (row,) = await self.jiaoying.rows(
            "select state, note, answered_at from recipients where person_id = :p", p=person_id
        )
        return row

    async def attempt(self, key: str) -> Any:
        (row,) = await self.jiaoying.rows(
            "select status, provider_id, error_reason from attempts where key = :k", k=key
        )
        return row

    async def alert_key(self, person_id: str, channel: str) -> str:
        async def find() -> str | None:
            rows = await self.jiaoying.rows(
                "select a.key from attempts a join recipients r on r.id = a.recipient_id"
                " where r.person_id = :p and a.channel = :c and a.kind = 'alert'"
                " order by a.id limit 1",
                p=person_id,
                c=channel,
            )
            return rows[0].key if rows else None

        key: str = await eventually(find)
        return key

    async def message(self, person_id: str) -> tuple[str, TwilioMessage]:
        key = await self.alert_key(person_id, "sms")
        found = await eventually(
            lambda: [m for m in self.standin.messages.values() if _for(m.status_callback, key)]
        )
        return key, found[0]

    async def call(self, person_id: str) -> tuple[str, TwilioCall]:
        key = await self.alert_key(person_id, "voice")
        found = await eventually(
            lambda: [c for c in self.standin.calls.values() if _for(c.url, key)]
        )
        return key, found[0]


def _for(url: str | None, key: str) -> bool:
    return bool(url) and str(url).endswith(f"?key={quote(key, safe='')}")


def _twilio_channels(settings: Any, api: TwilioApi) -> dict[str, Channel]:
    return {
        "sms": TwilioSms(api, from_=settings.twilio_from, public_url=settings.public_url),
        "voice": TwilioVoice(api, from_=settings.twilio_from, public_url=settings.public_url),
    }


def _with_twilio_routes(app: Application) -> Application:
    # The lead wires the routes into build_app; until then, add them here (once).
    paths = {resource.canonical for resource in app.router.resources()}
    if "/callbacks/twilio/status" not in paths:
        add_twilio_routes(app)
    return app


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sock = free_socket()
    public_url = "http://{}:{}".format(*sock.getsockname()[:2])
    async with TwilioStandIn(callbacks=public_url) as standin:
        settings = load_settings(
            {
                "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
                "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
                "JIAOYING_PUBLIC_URL": public_url,
                "JIAOYING_TWILIO_ACCOUNT_SID": standin.account_sid,
                "JIAOYING_TWILIO_AUTH_TOKEN": standin.auth_token,
                "JIAOYING_TWILIO_FROM": TWILIO_FROM,
                "JIAOYING_TWILIO_API_BASE": standin.url,
            }
        )
        recorders = {name: RecordingChannel(name) for name in ("wechat", "broadcast")}
        api = TwilioApi(standin.account_sid, standin.auth_token, api_base=standin.url, timeout=2.0)
        twilio = _twilio_channels(settings, api)

        def make_channels() -> dict[str, Channel]:
            return {**twilio, **recorders}

        roster = load_roster(EXAMPLES / "roster")
        policy = load_policy(ROOT / "tests/data/fast-policy.yaml")
        app = _with_twilio_routes(build_app(settings, roster, policy, channels=make_channels))
        client = TestClient(TestServer(app, socket_factory=lambda *_: sock))
        await client.start_server()
        shift = shift_to_now()
        try:
            yield Rig(Jiaoying(client, recorders, roster, shift), standin, public_url)
        finally:
            await client.close()
            await api.close()


async def test_every_phone_gets_an_sms_and_a_call_through_twilio(rig: Rig) -> None:
    phones = {p.phone for p in rig.persons().values()}
    await rig.jiaoying.post(RED)

    await eventually(lambda: {m.to for m in rig.standin.messages.values()} >= phones)
    await eventually(lambda: {c.to for c in rig.standin.calls.values()} >= phones)
    assert all(m.from_ == TWILIO_FROM for m in rig.standin.messages.values())
    assert all(
        m.status_callback and m.status_callback.startswith(f"{rig.public_url}/callbacks/twilio/")
        for m in rig.standin.messages.values()
    )
    assert all(c.machine_detection == "DetectMessageEnd" for c in rig.standin.calls.values())


async def test_delivery_reports_move_the_send_and_the_recipient(rig: Rig) -> None:
    body = await rig.jiaoying.post(RED)
    first, second = sorted(rig.persons())[:2]
    key, message = await rig.message(first)

    assert (await rig.standin.deliver(message.sid, "delivered")).status == 204
    assert (await rig.attempt(key)).status == "delivered"
    assert (await rig.attempt(key)).provider_id == message.sid
    assert (await rig.recipient(first)).state == "delivered"
    assert (await rig.summary(body["id"]))["states"]["delivered"] >= 1

    key, message = await rig.message(second)
    assert (await rig.standin.deliver(message.sid, "undelivered", 30006)).status == 204
    rejected = await rig.attempt(key)
    assert (rejected.status, rejected.error_reason) == ("rejected", "unreachable")


async def test_an_sms_reply_answers_and_the_supervisor_is_not_told_about_them(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    persons = rig.persons()
    person = persons[sorted(persons)[0]]
    await rig.message(person.id)

    reply = await rig.standin.inbound_sms(person.phone or "", "收到")
    assert reply.status == 200
    assert ElementTree.fromstring(reply.text).tag == "Response"
    assert (await rig.recipient(person.id)).state == "answered"

    escalations = await eventually(
        lambda: [m for m in rig.standin.messages.values() if "未叫醒" in m.body], within=8
    )
    assert all(person.name not in m.body for m in escalations)


async def test_a_reply_from_the_number_in_another_notation_still_answers(rig: Rig) -> None:
    # Twilio sends E.164; a number written otherwise is parsed before it is looked up.
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[3]]
    await rig.message(person.id)
    national = (person.phone or "").removeprefix("+86")
    spaced = f"{national[:3]} {national[3:7]} {national[7:]}"

    reply = await rig.standin.inbound_sms(spaced, "1")
    assert reply.status == 200
    assert (await rig.recipient(person.id)).state == "answered"


async def test_a_reply_from_an_unreadable_number_answers_nobody(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[4]]
    await rig.message(person.id)

    reply = await rig.standin.inbound_sms("not-a-number", "1")
    assert reply.status == 200
    assert ElementTree.fromstring(reply.text).tag == "Response"
    assert (await rig.recipient(person.id)).state != "answered"


async def test_a_reply_that_is_not_an_answer_is_kept_as_a_note(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[1]]
    await rig.message(person.id)

    reply = await rig.standin.inbound_sms(person.phone or "", "已转移群众20人")
    assert reply.status == 200
    row = await rig.recipient(person.id)
    assert row.state != "answered"
    assert "已转移群众20人" in row.note


async def test_key_1_in_the_call_answers(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person_id = sorted(rig.persons())[2]
    key, call = await rig.call(person_id)

    result = await rig.standin.answer_call(call.sid, "1")
    assert all(200 <= status < 300 for status in result.statuses), result.replies
    first = ElementTree.fromstring(result.twiml[0])
    gather = first.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    say = gather.find("Say")
    assert say is not None and say.get("language") == "cmn-CN" and "暴雨" in (say.text or "")
    assert "谢谢" in result.twiml[-1]
    assert (await rig.recipient(person_id)).state == "answered"
    assert (await rig.attempt(key)).status == "delivered"
    answers = await rig.jiaoying.rows("select via, by from answers")
    assert [(a.via, a.by) for a in answers] == [("voice", person_id)]


async def test_an_answering_machine_never_answers_nor_counts_as_reached(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person_id = sorted(rig.persons())[3]
    key, call = await rig.call(person_id)

    result = await rig.standin.answer_call(call.sid, "1", answered_by="machine_end_beep")
    assert all(200 <= status < 300 for status in result.statuses), result.replies
    assert (await rig.recipient(person_id)).state != "answered"
    machine = await rig.attempt(key)
    assert (machine.status, machine.error_reason) == ("failed", "voicemail")
    assert not await rig.jiaoying.rows("select id from answers")


async def test_an_unanswered_key_replays_the_text_three_times_then_hangs_up(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person_id = sorted(rig.persons())[4]
    _, call = await rig.call(person_id)

    result = await rig.standin.answer_call(call.sid, ["9", "", "7"])
    readings = [doc for doc in result.twiml if "<Gather" in doc]
    assert len(readings) == 4, "the first reading and three replays"
    assert "replay=3" in readings[-1]
    assert result.twiml[-1].endswith("<Hangup /></Response>")
    assert (await rig.recipient(person_id)).state != "answered"


async def test_a_busy_line_fails_the_call(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person_id = sorted(rig.persons())[5]
    key, call = await rig.call(person_id)
    await eventually(lambda: _status_is(rig, key, "sent"))

    reply = await rig.standin.end_call(call.sid, "busy")
    assert reply is not None and reply.status == 204
    busy = await rig.attempt(key)
    assert (busy.status, busy.error_reason) == ("failed", "unreachable")


async def _status_is(rig: Rig, key: str, status: str) -> bool:
    return bool((await rig.attempt(key)).status == status)


async def test_the_twiml_of_an_unknown_notice_apologises_and_hangs_up(rig: Rig) -> None:
    reply = await rig.standin.post_signed(
        f"{rig.public_url}/callbacks/twilio/voice?key=no-such-send", {"CallSid": "CA" + "0" * 32}
    )
    assert reply.status == 200
    root = ElementTree.fromstring(reply.text)
    assert [verb.tag for verb in root] == ["Say", "Hangup"]


async def test_forged_callbacks_are_refused_and_change_nothing(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[0]]
    sms_key, message = await rig.message(person.id)
    call_key, call = await rig.call(person.id)
    await eventually(lambda: _status_is(rig, sms_key, "sent"))
    standin = rig.standin
    delivered = {"MessageSid": message.sid, "MessageStatus": "delivered", "To": message.to}
    gather = f"{rig.public_url}/callbacks/twilio/gather?key={quote(call_key, safe='')}"
    inbound = f"{rig.public_url}/callbacks/twilio/sms"
    texted = {"From": person.phone or "", "Body": "收到", "MessageSid": "SM" + "1" * 32}
    status_url = message.status_callback or ""

    refused = [
        await standin.forge(status_url, delivered),  # unsigned
        await standin.forge(status_url, delivered, signature="c2lnbmF0dXJl"),  # made up
        await standin.forge(
            inbound, texted, signature=standin.sign(inbound, {**texted, "Body": "?"})
        ),
        await standin.forge(
            gather,
            {"CallSid": call.sid, "Digits": "1"},
            signature=standin.sign(gather, {"CallSid": call.sid, "Digits": "2"}),
        ),
        await standin.forge(
            inbound,
            texted,
            signature=standin.sign(inbound.replace("127.0.0.1", "evil.example"), texted),
            headers={"Host": "evil.example"},  # a forger controls Host; the check ignores it
        ),
    ]
    other = RequestValidator(NOT_THE_TOKEN).compute_signature(status_url, delivered)
    refused.append(await standin.forge(status_url, delivered, signature=other))

    assert [reply.status for reply in refused] == [403] * len(refused)
    assert (await rig.attempt(sms_key)).status == "sent"
    assert (await rig.recipient(person.id)).state != "answered"
    assert not await rig.jiaoying.rows("select id from answers")


async def test_the_signature_is_checked_against_the_public_url_not_the_host_header(
    rig: Rig,
) -> None:
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[1]]
    key, message = await rig.message(person.id)
    url = message.status_callback or ""
    params = {"MessageSid": message.sid, "MessageStatus": "delivered"}

    # A proxy in front forwards Twilio's request with its own Host: still genuine.
    reply = await rig.standin.forge(
        url, params, signature=rig.standin.sign(url, params), headers={"Host": "internal:8080"}
    )
    assert reply.status == 204
    assert (await rig.attempt(key)).status == "delivered"


async def test_without_twilio_credentials_the_callbacks_do_not_exist(tmp_path: Path) -> None:
    settings = load_settings({"JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/j.db"})
    roster = load_roster(EXAMPLES / "roster")
    policy = load_policy(ROOT / "tests/data/fast-policy.yaml")
    app = _with_twilio_routes(build_app(settings, roster, policy))
    async with TestClient(TestServer(app)) as client:
        for path in ("status", "call-status", "amd", "voice", "gather", "sms"):
            response = await client.post(f"/callbacks/twilio/{path}?key=k", data={"x": "1"})
            assert response.status == 404, path
            assert "not configured" in json.dumps(await response.json())


async def test_callback_logs_carry_no_full_number_and_no_token(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    person = rig.persons()[sorted(rig.persons())[2]]
    _, message = await rig.message(person.id)
    _, call = await rig.call(person.id)
    output = io.StringIO()
    configure_logging("DEBUG", stream=output)
    try:
        await rig.standin.deliver(message.sid, "undelivered", 30003)
        await rig.standin.inbound_sms(person.phone or "", "已转移群众20人")
        await rig.standin.answer_call(call.sid, "1")
        await rig.standin.forge(message.status_callback or "", {"MessageStatus": "delivered"})
    finally:
        logging.getLogger().handlers.clear()
    text = output.getvalue()
    assert "twilio sms status" in text and "answered by key 1" in text
    assert (person.phone or "").removeprefix("+86") not in text
    assert rig.standin.auth_token not in text


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"--xx\r\nbroken",
        b'--xx\r\nContent-Disposition: form-data; name="Body"\r\n\r\n1',
    ],
)
async def test_a_multipart_body_is_refused_not_a_server_error(rig: Rig, body: bytes) -> None:
    """Twilio posts urlencoded forms only; a multipart body used to raise out of the form
    parser (500 with a traceback) before the signature was even looked at."""
    await rig.jiaoying.post(RED)
    before = await rig.jiaoying.rows("select id from answers")
    for path in ("/callbacks/twilio/sms", "/callbacks/twilio/status?key=k"):
        response = await rig.client.post(
            path, data=body, headers={"Content-Type": "multipart/form-data; boundary=xx"}
        )
        assert response.status == 400, (path, await response.text())
    assert await rig.jiaoying.rows("select id from answers") == before


async def test_a_form_that_is_not_utf8_text_is_refused_not_a_server_error(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    before = await rig.jiaoying.rows("select id from answers")
    response = await rig.client.post(
        "/callbacks/twilio/sms",
        data=b"Body=1&From=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400, await response.text()
    assert await rig.jiaoying.rows("select id from answers") == before
