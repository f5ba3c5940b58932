"""The domestic providers as an operator configures them: only `JIAOYING_*` settings, the
shipped templates under templates/, and the service building its own channels
(dispatcher.providers) against the stand-ins. A red warning of the example county reaches
every grid person by SMS and by call, on Alibaba Cloud and again on Tencent Cloud."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from channels.provider_templates import read_templates
from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, Jiaoying, eventually, shift_to_now
from tests.standins.aliyun import SIGN_NAME as ALIYUN_SIGN
from tests.standins.aliyun import AliyunStandIn
from tests.standins.tencent import SIGN_NAME as TENCENT_SIGN
from tests.standins.tencent import SMS_APP_ID, VMS_APP_ID, TencentStandIn

RED = "red-rainstorm.xml"
TEMPLATES = ROOT / "templates"
SECRET = "cb-from-settings-" + "7f" * 8


def ids(prefix: str) -> dict[str, str]:
    return {kind: f"{prefix}{n:03d}" for n, kind in enumerate(NOTICE_KINDS)}


def listed(mapping: dict[str, str]) -> str:
    return ",".join(f"{kind}={code}" for kind, code in mapping.items())


def grid_phones(roster_dir: Path) -> set[str]:
    roster = load_roster(roster_dir)
    resolution = resolve(parse_cap((EXAMPLES / "warnings" / RED).read_bytes()).areas, roster)
    return {t.person.phone for t in resolution.recipients if t.person.phone}


@asynccontextmanager
async def served(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[Jiaoying]:
    # A county's roster: the example's persons under another directory (real providers
    # never run on the example roster itself).
    roster_dir = tmp_path / "county"
    roster_dir.mkdir()
    for source in (EXAMPLES / "roster").iterdir():
        text = source.read_bytes()
        (roster_dir / source.name).write_bytes(text.replace(b"13900130001", b"13512340001"))
    settings = load_settings(
        {
            "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
            "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
            "JIAOYING_PUBLIC_URL": "http://127.0.0.1:9",
            "JIAOYING_ROSTER_DIR": str(roster_dir),
            "JIAOYING_CALLBACK_SECRETS": SECRET,
            **env,
        }
    )
    roster = load_roster(roster_dir)
    app = build_app(settings, roster, load_policy(ROOT / "tests/data/fast-policy.yaml"))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Jiaoying(client, {}, roster, shift_to_now())
    finally:
        await client.close()


async def reached(sent: Callable[[], set[str]], phones: set[str]) -> None:
    await eventually(lambda: sent() >= phones, within=15, what="every grid person reached")


async def test_alibaba_cloud_sms_and_voice_from_settings_alone(tmp_path: Path) -> None:
    sms_ids, tts_ids = ids("SMS_4681"), ids("TTS_2812")
    approved = {}
    for folder, chosen in (("sms", sms_ids), ("voice", tts_ids)):
        for template in read_templates(
            TEMPLATES / "aliyun" / folder, chosen, numbered=False, limit=35, kinds=NOTICE_KINDS
        ).values():
            approved[template.template_id] = template.variables
    async with AliyunStandIn(templates=approved) as standin:
        env = {
            "JIAOYING_SMS_PROVIDER": "aliyun",
            "JIAOYING_VOICE_PROVIDER": "aliyun",
            "JIAOYING_ALIYUN_ACCESS_KEY_ID": standin.key_id,
            "JIAOYING_ALIYUN_ACCESS_KEY_SECRET": standin.secret,
            "JIAOYING_ALIYUN_SMS_SIGN_NAME": ALIYUN_SIGN,
            "JIAOYING_ALIYUN_SMS_TEMPLATES": listed(sms_ids),
            "JIAOYING_ALIYUN_TTS_TEMPLATES": listed(tts_ids),
            "JIAOYING_ALIYUN_IVR_NUMBER": "057188880000",
            "JIAOYING_ALIYUN_IVR_THANKS_CODE": "TTS_281299",
            "JIAOYING_ALIYUN_SMS_ENDPOINT": standin.url,
            "JIAOYING_ALIYUN_VMS_ENDPOINT": standin.url,
        }
        async with served(tmp_path, env) as jiaoying:
            phones = {phone.removeprefix("+86") for phone in grid_phones(tmp_path / "county")}
            await jiaoying.post(RED)
            await reached(lambda: {sms.phone_number for sms in standin.sms}, phones)
            await reached(lambda: {call.called_number for call in standin.calls}, phones)
        assert standin.refused_signatures == 0
        assert {call.action for call in standin.calls} == {"IvrCall"}
        assert all(sms.params["name"] for sms in standin.sms)


async def test_tencent_cloud_sms_and_voice_from_settings_alone(tmp_path: Path) -> None:
    sms_ids, vms_ids = ids("19283"), ids("29283")
    approved = {}
    for folder, chosen in (("sms", sms_ids), ("voice", vms_ids)):
        for template in read_templates(
            TEMPLATES / "tencent" / folder, chosen, numbered=True, limit=35, kinds=NOTICE_KINDS
        ).values():
            approved[template.template_id] = len(template.variables)
    async with TencentStandIn(templates=approved) as standin:
        env = {
            "JIAOYING_SMS_PROVIDER": "tencent",
            "JIAOYING_VOICE_PROVIDER": "tencent",
            "JIAOYING_TENCENT_SECRET_ID": standin.secret_id,
            "JIAOYING_TENCENT_SECRET_KEY": standin.secret_key,
            "JIAOYING_TENCENT_SMS_APP_ID": SMS_APP_ID,
            "JIAOYING_TENCENT_SMS_SIGN_NAME": TENCENT_SIGN,
            "JIAOYING_TENCENT_SMS_TEMPLATES": listed(sms_ids),
            "JIAOYING_TENCENT_VMS_APP_ID": VMS_APP_ID,
            "JIAOYING_TENCENT_VMS_TEMPLATES": listed(vms_ids),
            # The county had night calls lifted: the test does not depend on the hour.
            "JIAOYING_TENCENT_VMS_NIGHT_CALLS": "true",
            "JIAOYING_TENCENT_SMS_ENDPOINT": standin.url,
            "JIAOYING_TENCENT_VMS_ENDPOINT": standin.url,
        }
        async with served(tmp_path, env) as jiaoying:
            phones = grid_phones(tmp_path / "county")
            await jiaoying.post(RED)
            await reached(lambda: {sms.phone_number for sms in standin.sms}, phones)
            await reached(lambda: {call.called_number for call in standin.calls}, phones)
        assert standin.refused_signatures == 0
