"""Alibaba Cloud SMS end to end: the real jiaoying (store, scheduler, sender, HTTP) sending
a red warning of the example county through the SDK to the stand-in, and the stand-in's
pushes (receipts, replies, their retries and duplicates) coming back through the secret
callback URL. Fast test policy (tests/data/fast-policy.yaml)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.aliyun_sms import AliyunSms, aliyun_number
from channels.aliyun_voice import AliyunVoice
from channels.base import Channel
from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app
from tests.channels.test_aliyun_sms import APPROVED, TEMPLATES
from tests.channels.test_aliyun_voice import IVR_NUMBER, THANKS
from tests.channels.test_aliyun_voice import TEMPLATES as TTS_TEMPLATES
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, Jiaoying, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.standins.aliyun import SIGN_NAME, SMS_DAY_CAP, AliyunStandIn
from tests.standins.aliyun import AliyunSms as SentSms
from tests.standins.base import free_socket

RED = "red-rainstorm.xml"
SECRET = "cb-current-" + "5d" * 10
OLD_SECRET = "cb-previous-" + "9a" * 10


@dataclass
class Rig:
    jiaoying: Jiaoying
    standin: AliyunStandIn
    public_url: str

    def url(self, route: str, secret: str = SECRET) -> str:
        return f"{self.public_url}/callbacks/aliyun/{secret}/{route}"

    def phones(self) -> set[str]:
        warning = parse_cap((EXAMPLES / "warnings" / RED).read_bytes())
        resolution = resolve(warning.areas, self.jiaoying.roster)
        return {t.person.phone for t in resolution.recipients if t.person.phone}

    async def sms_to(self, phone: str) -> SentSms:
        found = await eventually(
            lambda: [s for s in self.standin.sms if s.phone_number == aliyun_number(phone)]
        )
        sms: SentSms = found[0]
        return sms

    def person(self, phone: str) -> str:
        (person_id,) = [p.id for p in self.jiaoying.roster.persons.values() if p.phone == phone]
        return person_id

    async def attempt(self, phone: str, channel: str = "sms", nth: int = 0) -> Any:
        rows = await self.jiaoying.rows(
            "select status, error_reason, kind, provider_id from attempts"
            " where person_id = :p and channel = :c order by id",
            p=self.person(phone),
            c=channel,
        )
        return rows[nth] if len(rows) > nth else None

    async def call_to(self, phone: str) -> Any:
        found = await eventually(
            lambda: [c for c in self.standin.calls if c.called_number == aliyun_number(phone)]
        )
        return found[0]

    async def state(self, phone: str) -> str:
        rows = await self.jiaoying.rows(
            "select state from recipients where person_id = :p limit 1",
            p=self.person(phone),
        )
        return str(rows[0].state)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sock = free_socket()
    public_url = "http://{}:{}".format(*sock.getsockname()[:2])
    approved = {**APPROVED, **{t.template_id: t.variables for t in TTS_TEMPLATES.values()}}
    async with AliyunStandIn(templates=approved, retry_delays=(0.05, 0.05, 0.05)) as standin:
        settings = load_settings(
            {
                "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
                "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
                "JIAOYING_PUBLIC_URL": public_url,
                "JIAOYING_CALLBACK_SECRETS": f"{SECRET},{OLD_SECRET}",
                "JIAOYING_ALIYUN_IVR_NUMBER": IVR_NUMBER,
                "JIAOYING_ALIYUN_IVR_THANKS_CODE": THANKS,
            }
        )
        sms = AliyunSms(
            endpoint=standin.url,
            access_key_id=standin.key_id,
            access_key_secret=standin.secret,
            sign_name=SIGN_NAME,
            templates=TEMPLATES,
            timeout=5.0,
        )
        voice = AliyunVoice(
            endpoint=standin.url,
            access_key_id=standin.key_id,
            access_key_secret=standin.secret,
            templates=TTS_TEMPLATES,
            ivr_number=IVR_NUMBER,
            thanks_code=THANKS,
            timeout=5.0,
        )
        recorders = {name: RecordingChannel(name) for name in ("wechat", "broadcast")}

        def make_channels() -> dict[str, Channel]:
            return {"sms": sms, "voice": voice, **recorders}

        roster = load_roster(EXAMPLES / "roster")
        policy = load_policy(ROOT / "tests/data/fast-policy.yaml")
        app = build_app(settings, roster, policy, channels=make_channels)
        client = TestClient(TestServer(app, socket_factory=lambda *_: sock))
        await client.start_server()
        try:
            yield Rig(Jiaoying(client, recorders, roster, shift_to_now()), standin, public_url)
        finally:
            await client.close()


async def test_the_county_s_persons_get_their_sms_in_batch_requests_and_receipts_move_them(
    rig: Rig,
) -> None:
    phones = rig.phones()
    await rig.jiaoying.post(RED)
    await eventually(lambda: {f"+86{s.phone_number}" for s in rig.standin.sms} >= phones)
    batches = [r for r in rig.standin.requests if r.headers["x-acs-action"] == "SendBatchSms"]
    assert len(batches) < len(phones) / 2, "persons share SendBatchSms requests"

    first, second = sorted(phones)[:2]
    sms = await rig.sms_to(first)
    await eventually(lambda: _settled(rig, first), what="the send's provider id recorded")
    push = await rig.standin.push(
        rig.url("sms-report"), [rig.standin.sms_report(sms)], duplicate=True
    )
    assert (push.status, push.body, push.tries) == (200, {"code": 0, "msg": "成功"}, 1)
    assert (await rig.attempt(first)).status == "delivered"

    failed = await rig.sms_to(second)
    await eventually(lambda: _settled(rig, second), what="the send's provider id recorded")
    report = rig.standin.sms_report(failed, success=False, err_code="MK:0001")
    await rig.standin.push(rig.url("sms-report", OLD_SECRET), [report])
    row = await rig.attempt(second)
    assert (row.status, row.error_reason) == ("rejected", "invalid_address")


async def test_a_reply_of_shou_dao_answers_once_and_a_stranger_s_answers_nobody(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    phone = sorted(rig.phones())[0]
    await rig.sms_to(phone)

    stranger = rig.standin.sms_up("13912345678", "1")
    assert (await rig.standin.push(rig.url("sms-up"), [stranger])).body["code"] == 0
    reply = rig.standin.sms_up(aliyun_number(phone), "收到")
    push = await rig.standin.push(rig.url("sms-up"), [reply], duplicate=True)
    assert push.body == {"code": 0, "msg": "成功"}
    await eventually(lambda: rig.state(phone), what="answered")
    assert await rig.state(phone) == "answered"
    answers = await rig.jiaoying.rows("select count(*) as n from answers")
    assert answers[0].n == 1, "the duplicate push answered nothing more"


async def test_forged_pushes_are_refused_and_change_nothing(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    phone = sorted(rig.phones())[0]
    sms = await rig.sms_to(phone)
    client = rig.standin.http
    for secret in ("", "x" * 24, SECRET[:-1] + "0"):
        async with client.post(
            rig.url("sms-up", secret), json=[rig.standin.sms_up(aliyun_number(phone), "1")]
        ) as reply:
            assert reply.status in (404, 405)
        async with client.post(
            rig.url("sms-report", secret), json=[rig.standin.sms_report(sms)]
        ) as reply:
            assert reply.status in (404, 405)
    async with client.post(rig.url("sms-up"), data=b"not json") as reply:
        assert reply.status == 400
    async with client.post(rig.url("sms-report"), json={"biz_id": "1^0"}) as reply:
        assert reply.status == 400, "a receipt push is an array"
        assert (await reply.json())["code"] == 400, "refused in the provider's own answer"
    unknown = {**rig.standin.sms_report(sms), "biz_id": "123^0"}
    push = await rig.standin.push(rig.url("sms-report"), [unknown])
    assert (push.body["code"], push.tries) == (1, 4), "an unknown send is asked again, then dropped"
    # The provider retries what was not taken: a broken answer is tried again.
    assert (await rig.attempt(phone)).status == "sent"
    assert await rig.state(phone) != "answered"


async def test_a_person_over_the_daily_cap_is_rejected_as_capped_at_once(rig: Rig) -> None:
    phone = sorted(rig.phones())[0]
    national = aliyun_number(phone)
    cap = rig.standin._sms_sent[(SIGN_NAME, TEMPLATES["alert"].template_id, national)]
    cap.extend([__import__("time").monotonic()] * SMS_DAY_CAP)
    await rig.jiaoying.post(RED)

    row = await eventually(lambda: rig.attempt(phone), what="the capped send recorded")
    row = await eventually(lambda: _settled(rig, phone), what="the capped send rejected")
    assert (row.status, row.error_reason) == ("rejected", "capped")


async def _settled(rig: Rig, phone: str, channel: str = "sms", nth: int = 0) -> Any:
    row = await rig.attempt(phone, channel, nth)
    return row if row is not None and row.status != "claimed" else None


async def test_a_push_from_outside_the_configured_networks_is_refused(tmp_path: Path) -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from dispatcher.http.auth import SETTINGS
    from dispatcher.http.callback_secret import callback_allowed

    app = web.Application()
    app[SETTINGS] = load_settings(
        {"JIAOYING_CALLBACK_SECRETS": SECRET, "JIAOYING_CALLBACK_NETWORKS": "10.8.0.0/16"}
    )

    def status(secret: str, remote: str) -> int | None:
        request = make_mocked_request(
            "POST", f"/callbacks/aliyun/{secret}/sms-up", app=app, match_info={"secret": secret}
        )
        return callback_allowed(request.clone(remote=remote))

    assert status(SECRET, "10.8.3.4") is None
    assert status(SECRET, "203.0.113.9") == 403
    assert status(OLD_SECRET, "10.8.3.4") == 404, "a secret no longer configured"


async def test_key_1_on_the_ivr_call_answers_once_and_the_silent_escalate_past_the_voice_cap(
    rig: Rig,
) -> None:
    await rig.jiaoying.post(RED)
    phones = sorted(rig.phones())
    answering, silent = phones[0], phones[1]
    call = await rig.call_to(answering)
    assert call.action == "IvrCall"
    await eventually(lambda: _settled(rig, answering, "voice"), what="the call id recorded")

    ended = rig.standin.voice_report(call)
    keyed = {**ended, "dtmf": "1", "status_code": "300000"}
    push = await rig.standin.push(rig.url("voice-report"), [ended, keyed], duplicate=True)
    assert push.body == {"code": 0, "msg": "成功"}
    await eventually(lambda: _state_is(rig, answering, "answered"), what="key 1 answered")
    answers = await rig.jiaoying.rows("select count(*) as n from answers")
    assert answers[0].n == 1, "the duplicate report answered nothing more"
    assert (await rig.attempt(answering, "voice")).status == "delivered"

    # The policy's redial after 1.5 s meets the callee's one-call-a-minute cap: rejected
    # at once as capped, and the silent person's supervisor is summoned at 3 s.
    redial = await eventually(lambda: _settled(rig, silent, "voice", 1), within=10)
    assert (redial.status, redial.error_reason) == ("rejected", "capped")
    summons = await eventually(
        lambda: rig.jiaoying.rows("select id from attempts where kind = 'escalation'"),
        within=10,
        what="the supervisor summoned",
    )
    assert summons
    assert await rig.state(silent) != "answered"


async def test_a_key_press_on_a_call_that_only_reads_out_answers_nothing(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    phone = sorted(rig.phones())[0]
    call = await rig.call_to(phone)
    # A report naming an unknown call id moves and answers nothing.
    stranger = {**rig.standin.voice_report(call), "call_id": "999^1", "dtmf": "1"}
    assert (await rig.standin.push(rig.url("voice-report"), [stranger])).body["code"] == 0
    assert await rig.state(phone) != "answered"


async def _state_is(rig: Rig, phone: str, state: str) -> bool:
    return await rig.state(phone) == state
