"""Tencent Cloud end to end: a red warning of the example county through the real jiaoying
to the Tencent stand-in (SMS and voice messages), and the stand-in's pushes coming back
through the secret callback URLs: receipts, a reply, key 1, duplicates, forgeries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from channels.base import Channel
from channels.provider_templates import read_templates
from channels.tencent_api import SdkPool
from channels.tencent_sms import TencentSms
from channels.tencent_voice import TencentVoice
from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app
from tests.channels.test_tencent import DAYTIME
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, Jiaoying, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.standins.base import free_socket
from tests.standins.tencent import SIGN_NAME, SMS_APP_ID, VMS_APP_ID, TencentStandIn

RED = "red-rainstorm.xml"
SECRET = "tc-callback-" + "6e" * 10
SMS_IDS = {kind: f"19283{n:02d}" for n, kind in enumerate(NOTICE_KINDS)}
VMS_IDS = {kind: f"29283{n:02d}" for n, kind in enumerate(NOTICE_KINDS)}
SHIPPED = ROOT / "templates" / "tencent"


@dataclass
class Rig:
    jiaoying: Jiaoying
    standin: TencentStandIn
    public_url: str

    def url(self, route: str, secret: str = SECRET) -> str:
        return f"{self.public_url}/callbacks/tencent/{secret}/{route}"

    def phones(self) -> list[str]:
        warning = parse_cap((EXAMPLES / "warnings" / RED).read_bytes())
        resolution = resolve(warning.areas, self.jiaoying.roster)
        return sorted({t.person.phone for t in resolution.recipients if t.person.phone})

    def person(self, phone: str) -> str:
        (person_id,) = [p.id for p in self.jiaoying.roster.persons.values() if p.phone == phone]
        return person_id

    async def attempt(self, phone: str, channel: str, nth: int = 0) -> Any:
        rows = await self.jiaoying.rows(
            "select status, error_reason from attempts where person_id = :p and channel = :c"
            " order by id",
            p=self.person(phone),
            c=channel,
        )
        return rows[nth] if len(rows) > nth else None

    async def state(self, phone: str) -> str:
        rows = await self.jiaoying.rows(
            "select state from recipients where person_id = :p limit 1", p=self.person(phone)
        )
        return str(rows[0].state)


@pytest.fixture
def pool() -> Iterator[SdkPool]:
    pool = SdkPool(threads=8)
    yield pool
    pool.close()


@pytest.fixture
async def rig(tmp_path: Path, pool: SdkPool) -> AsyncIterator[Rig]:
    sms_templates = read_templates(
        SHIPPED / "sms", SMS_IDS, numbered=True, limit=35, kinds=NOTICE_KINDS
    )
    vms_templates = read_templates(
        SHIPPED / "voice", VMS_IDS, numbered=True, limit=35, kinds=NOTICE_KINDS
    )
    approved = {
        t.template_id: len(t.variables) for t in (*sms_templates.values(), *vms_templates.values())
    }
    sock = free_socket()
    public_url = "http://{}:{}".format(*sock.getsockname()[:2])
    async with TencentStandIn(templates=approved) as standin:
        settings = load_settings(
            {
                "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
                "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
                "JIAOYING_PUBLIC_URL": public_url,
                "JIAOYING_CALLBACK_SECRETS": SECRET,
            }
        )
        common: dict[str, Any] = {
            "secret_id": standin.secret_id,
            "secret_key": standin.secret_key,
            "region": "ap-guangzhou",
            "pool": pool,
            "timeout": 5.0,
        }
        sms = TencentSms(
            endpoint=standin.url,
            app_id=SMS_APP_ID,
            sign_name=SIGN_NAME,
            templates=sms_templates,
            **common,
        )
        voice = TencentVoice(
            endpoint=standin.url,
            app_id=VMS_APP_ID,
            templates=vms_templates,
            clock=lambda: DAYTIME,
            **common,
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


async def test_the_county_is_reached_and_receipts_replies_and_key_1_answer(rig: Rig) -> None:
    phones = rig.phones()
    await rig.jiaoying.post(RED)
    await eventually(lambda: {s.phone_number for s in rig.standin.sms} >= set(phones), within=10)
    await eventually(lambda: {c.called_number for c in rig.standin.calls} >= set(phones), within=10)

    by_sms, by_key, silent = phones[0], phones[1], phones[2]
    sms = next(s for s in rig.standin.sms if s.phone_number == by_sms)
    await eventually(lambda: _status_is(rig, by_sms, "sms", "sent"), what="the SerialNo recorded")
    status, answer, tries = await rig.standin.push(
        rig.url("sms-status"), [rig.standin.sms_status(sms)]
    )
    assert (status, answer, tries) == (200, {"result": 0, "errmsg": "OK"}, 1)
    assert (await rig.attempt(by_sms, "sms")).status == "delivered"

    reply = rig.standin.sms_reply(by_sms, "确认")
    await rig.standin.push(rig.url("sms-reply"), reply, duplicate=True)
    call = next(c for c in rig.standin.calls if c.called_number == by_key)
    await eventually(lambda: _status_is(rig, by_key, "voice", "sent"), what="the CallId recorded")
    await rig.standin.push(rig.url("voice"), rig.standin.call_result(call))
    await rig.standin.push(rig.url("voice"), rig.standin.key_press(call, "1"), duplicate=True)

    await eventually(lambda: _answered(rig, by_sms), what="the SMS reply answered")
    await eventually(lambda: _answered(rig, by_key), what="key 1 answered")
    answers = await rig.jiaoying.rows("select count(*) as n from answers")
    assert answers[0].n == 2, "duplicates answered nothing more"
    assert (await rig.attempt(by_key, "voice")).status == "delivered"

    # The redial at 1.5 s meets the callee's one-call-per-30-s cap: rejected as capped at
    # once, and the silent person's supervisor is summoned.
    redial = await eventually(lambda: _recorded(rig, silent, "voice", 1), within=10)
    assert (redial.status, redial.error_reason) == ("rejected", "capped")
    assert await eventually(
        lambda: rig.jiaoying.rows("select id from attempts where kind = 'escalation'"), within=10
    )
    assert await rig.state(silent) != "answered"


async def test_forged_and_unknown_pushes_change_nothing(rig: Rig) -> None:
    await rig.jiaoying.post(RED)
    phone = rig.phones()[0]
    await eventually(lambda: [c for c in rig.standin.calls if c.called_number == phone])
    call = next(c for c in rig.standin.calls if c.called_number == phone)
    for secret in ("wrong-secret-" + "0" * 20, SECRET[:-1]):
        status, _, _ = await rig.standin.push(
            rig.url("voice", secret), rig.standin.key_press(call, "1")
        )
        assert status == 404
    async with rig.standin.http.post(rig.url("sms-status"), json="not a push") as reply:
        assert reply.status == 400
        assert (await reply.json())["result"] == 400, "refused in the provider's own answer"
    stranger = rig.standin.sms_reply("+8613912345678", "1")
    assert (await rig.standin.push(rig.url("sms-reply"), stranger))[1] == {
        "result": 0,
        "errmsg": "OK",
    }
    forged = {**rig.standin.sms_status(rig.standin.sms[0]), "sid": "0:not-a-serial-number"}
    status, answer, tries = await rig.standin.push(rig.url("sms-status"), [forged])
    assert (answer["result"], tries) == (1, 3), "an unknown send is asked again, then dropped"
    other_key = rig.standin.key_press(call, "2")
    await rig.standin.push(rig.url("voice"), other_key)
    assert await rig.state(phone) != "answered"


async def _answered(rig: Rig, phone: str) -> bool:
    return await rig.state(phone) == "answered"


async def _status_is(rig: Rig, phone: str, channel: str, status: str) -> bool:
    row = await rig.attempt(phone, channel)
    return row is not None and row.status == status


async def _recorded(rig: Rig, phone: str, channel: str, nth: int) -> Any:
    """The `nth` send once its outcome is recorded (no longer only claimed)."""
    row = await rig.attempt(phone, channel, nth)
    return row if row is not None and row.status != "claimed" else None
