"""One drill, start to end: the simulated world, the real service on the drill clock, a
CAP `Exercise` warning posted to its ingest endpoint, and the wait until every chain is
settled or the drill's time is up. The run's records stay in the drill's database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from dispatcher.core.errors import InputError
from dispatcher.core.machine import OPEN_STATES
from dispatcher.core.model import Level
from dispatcher.core.policy import Policy
from dispatcher.core.roster import Roster
from dispatcher.drill.clock import DrillClock
from dispatcher.drill.scenario import BEIJING, Scenario
from dispatcher.drill.world import Credentials
from dispatcher.drill.world_process import WorldProcess
from dispatcher.engine.sender import ChannelLimits
from dispatcher.runtime.settings import Settings, load_settings
from dispatcher.service import build_app
from dispatcher.store.db import open_database
from dispatcher.store.schema import recipients, tasks

RATED_CHANNELS = ("voice", "sms", "wechat", "broadcast")
WATCH = 0.25  # real seconds between two looks at the drill's progress
SETTLE = timedelta(minutes=5)  # drill time after the last step, for late answers and reports

# A provider configured in the environment is a real one unless it points at this machine.
_PROVIDERS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "Twilio": (
        "JIAOYING_TWILIO_AUTH_TOKEN",
        (("JIAOYING_TWILIO_API_BASE", "https://api.twilio.com"),),
    ),
    "WeChat": (
        "JIAOYING_WECHAT_SECRET",
        (("JIAOYING_WECHAT_API_BASE", "https://api.weixin.qq.com"),),
    ),
    "broadcast": ("JIAOYING_BROADCAST_TOKEN", (("JIAOYING_BROADCAST_URL", ""),)),
    "Aliyun": (
        "JIAOYING_ALIYUN_ACCESS_KEY_SECRET",
        (
            ("JIAOYING_ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com"),
            ("JIAOYING_ALIYUN_VMS_ENDPOINT", "https://dyvmsapi.aliyuncs.com"),
        ),
    ),
    "Tencent Cloud": (
        "JIAOYING_TENCENT_SECRET_KEY",
        (
            ("JIAOYING_TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com"),
            ("JIAOYING_TENCENT_VMS_ENDPOINT", "https://vms.tencentcloudapi.com"),
        ),
    ),
}


class RealProviderConfigured(InputError):
    """The drill refuses to run where a real provider is configured."""


@dataclass(frozen=True, slots=True)
class DrillRun:
    warning_id: str
    db_path: Path
    started: datetime
    ended: datetime
    pace: float
    counts: dict[str, int]


def refuse_real_providers(environ: Mapping[str, str]) -> None:
    """Raise when the environment gives a provider's credentials for a host that is not
    this machine: a drill calls nobody, and must not run where it could."""
    for name, (secret, bases) in _PROVIDERS.items():
        if not environ.get(secret, "").strip():
            continue
        for base, default in bases:
            host = urlsplit(environ.get(base, "").strip() or default).hostname or ""
            if not _local(host):
                raise RealProviderConfigured(
                    f"{name} credentials are configured ({secret}) for "
                    f"{host or 'a real host'}: a drill brings its own simulated providers; "
                    "run it without them"
                )


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run_drill(
    scenario: Scenario,
    roster: Roster,
    policy: Policy,
    *,
    roster_dir: Path,
    policy_path: Path,
    db_path: Path,
    seed: int,
    pace: float,
) -> DrillRun:
    """Run the drill; returns where its records are. The database file is created."""
    start = scenario.start or datetime.now(UTC).replace(microsecond=0)
    clock = DrillClock(start, pace)
    credentials = Credentials.fresh()
    world = WorldProcess(roster_dir, scenario, seed, clock, credentials)
    providers = await world.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = _settings(credentials, providers, public_url, roster_dir, policy_path, db_path, pace)
    app = build_app(settings, roster, policy, clock=clock, pace=pace)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        world.attend(public_url)
        warning_id = await _post_warning(public_url, credentials.api_token, scenario, roster, clock)
        level = policy.for_level(Level(scenario.level))
        horizon = scenario.duration or (level.steps[-1].after + SETTLE)
        await _wait(settings.db_url, warning_id, clock, horizon)
        ended = clock()
    finally:
        # The people first, then the service (its last sends still find the providers).
        counts = await world.quiet()
        await runner.cleanup()
        await world.stop()
    return DrillRun(warning_id, db_path, start, ended, pace, counts)


def _settings(
    credentials: Credentials,
    providers: str,
    public_url: str,
    roster_dir: Path,
    policy_path: Path,
    db_path: Path,
    pace: float,
) -> Settings:
    # A provider's rate is per second of its own: in a drill's compressed time the same
    # contract lets `pace` times as many requests through each real second, else the
    # drill would rehearse a provider `pace` times slower than the county's.
    rate = ChannelLimits().per_second * pace
    values = {
        "JIAOYING_SEND_RATES": ",".join(f"{name}={rate:g}" for name in RATED_CHANNELS),
        "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{db_path}",
        "JIAOYING_PUBLIC_URL": public_url,
        "JIAOYING_ROSTER_DIR": str(roster_dir),
        "JIAOYING_POLICY": str(policy_path),
        "JIAOYING_API_TOKENS": f"drill:{credentials.api_token}",
        "JIAOYING_LINK_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "JIAOYING_TWILIO_ACCOUNT_SID": credentials.twilio_sid,
        "JIAOYING_TWILIO_AUTH_TOKEN": credentials.twilio_token,
        "JIAOYING_TWILIO_FROM": credentials.twilio_from,
        "JIAOYING_TWILIO_API_BASE": providers,
        "JIAOYING_WECHAT_APPID": credentials.wechat_appid,
        "JIAOYING_WECHAT_SECRET": credentials.wechat_secret,
        "JIAOYING_WECHAT_TEMPLATE_ID": "drill-template",
        "JIAOYING_WECHAT_TOKEN": credentials.wechat_server_token,
        "JIAOYING_WECHAT_API_BASE": providers,
        "JIAOYING_BROADCAST_URL": f"{providers}/broadcast",
        "JIAOYING_BROADCAST_TOKEN": credentials.broadcast_token,
        "JIAOYING_ANSWER_RATE": "100000",
        "JIAOYING_LOG_LEVEL": os.environ.get("JIAOYING_LOG_LEVEL", "WARNING"),
    }
    settings = load_settings(values)
    refuse_real_providers(values)  # the drill's own settings: every provider on this machine
    return settings


def warning_cap(scenario: Scenario, roster: Roster, sent: datetime) -> bytes:
    """The drill's warning: CAP 1.2, status Exercise, the scenario's level and area."""
    area = scenario.area or {_county(roster): ""}
    local = sent.astimezone(BEIJING)
    expires = local + timedelta(hours=6)
    stamp = local.isoformat(timespec="seconds")
    identifier = f"DRILL-{min(area)}-{local:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    level_words = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
    # One area per code, named as the scenario names it: the report's township names.
    areas = "".join(
        f"<area><areaDesc>{escape(name or '演练区域')}</areaDesc><geocode>"
        f"<valueName>ADCODE</valueName><value>{code}</value></geocode></area>"
        for code, name in area.items()
    )
    event = escape(scenario.event)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>jiaoying-drill</sender><sent>{stamp}</sent>
  <status>Exercise</status><msgType>Alert</msgType><scope>Public</scope>
  <note>{escape(scenario.name)}，非真实预警</note>
  <info><language>zh-CN</language><category>Met</category><event>{event}</event>
    <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>
    <effective>{stamp}</effective><expires>{expires.isoformat(timespec="seconds")}</expires>
    <senderName>叫应演练</senderName><headline>【演练】{event}</headline>
    <description>【演练】{escape(scenario.name)}。本信息为演练，非真实预警。</description>
    <parameter><valueName>预警级别</valueName>
      <value>{level_words[scenario.level]}</value></parameter>
    {areas}
  </info>
</alert>""".encode()


def _county(roster: Roster) -> str:
    codes = sorted(roster.grids)
    if not codes:
        raise InputError("the roster has no grids to drill")
    return codes[0][:6]


async def _post_warning(
    url: str, token: str, scenario: Scenario, roster: Roster, clock: DrillClock
) -> str:
    body = warning_cap(scenario, roster, clock())
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/warnings",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
        ) as response,
    ):
        answer = await response.json()
    if response.status != 202:
        raise InputError(f"the drill's warning was refused ({response.status}): {answer}")
    return str(answer["id"])


async def _wait(db_url: str, warning_id: str, clock: DrillClock, horizon: timedelta) -> None:
    """Until every chain is answered and every field task reported, or `horizon` is up."""
    db = open_database(db_url)
    try:
        while clock.elapsed() < horizon:
            await asyncio.sleep(WATCH)
            async with db.reader.connect() as conn:
                waiting = await conn.scalar(
                    select(func.count())
                    .select_from(recipients)
                    .where(recipients.c.warning_id == warning_id)
                    .where(recipients.c.state.in_(OPEN_STATES))
                )
                open_tasks = await conn.scalar(
                    select(func.count())
                    .select_from(tasks)
                    .where(tasks.c.warning_id == warning_id, tasks.c.status == "open")
                )
            if not waiting and not open_tasks:
                return
    finally:
        await db.dispose()
