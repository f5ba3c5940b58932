"""A service loads the SDKs of the providers it is configured for, and no other: the
Alibaba Cloud and Tencent Cloud SDKs and openpyxl are some 60 MB of modules, which a
county on Twilio (or on the embedded defaults) would carry for nothing, at 100,000
recipients a seventh of the service's memory.

Each service is started in a fresh interpreter, as `jiaoying serve` starts it (settings,
roster, policy, the app with every route and loop), and reports what it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine.conftest import EXAMPLES, ROOT

HEAVY = (
    "alibabacloud_dysmsapi20170525",
    "alibabacloud_dyvmsapi20170525",
    "tencentcloud",
    "openpyxl",
)

START = """
import asyncio, json, sys
from aiohttp import web
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import build_app

async def main():
    settings = load_settings(json.loads(sys.argv[1]))
    app = build_app(settings, load_roster(settings.roster_dir), load_policy(settings.policy))
    runner = web.AppRunner(app)
    await runner.setup()  # the store opened and migrated, the providers built, the loops on
    await runner.cleanup()

asyncio.run(main())
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded(env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", START, json.dumps(env)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def county(tmp_path: Path) -> Path:
    """The example county under another directory, as a county's own roster."""
    roster = tmp_path / "county"
    roster.mkdir()
    for source in (EXAMPLES / "roster").iterdir():
        (roster / source.name).write_bytes(source.read_bytes().replace(b"139001", b"135123"))
    return roster


def base(tmp_path: Path, roster: Path) -> dict[str, str]:
    return {
        "JIAOYING_DB_URL": f"sqlite+aiosqlite:///{tmp_path}/jiaoying.db",
        "JIAOYING_ROSTER_DIR": str(roster),
        "JIAOYING_POLICY": str(EXAMPLES / "policy.yaml"),
        "JIAOYING_PUBLIC_URL": "http://127.0.0.1:9",
        "JIAOYING_API_TOKENS": "ops:" + "t" * 32,
    }


def test_a_county_on_twilio_loads_no_other_provider_s_sdk(tmp_path: Path) -> None:
    env = base(tmp_path, county(tmp_path)) | {
        "JIAOYING_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "JIAOYING_TWILIO_AUTH_TOKEN": "1" * 32,
        "JIAOYING_TWILIO_FROM": "+15005550006",
        "JIAOYING_TWILIO_API_BASE": "http://127.0.0.1:9",
    }
    modules = loaded(env)
    assert "twilio" in modules
    assert not modules & set(HEAVY)


def test_the_embedded_defaults_load_no_domestic_sdk(tmp_path: Path) -> None:
    modules = loaded(base(tmp_path, EXAMPLES / "roster"))
    assert not modules & set(HEAVY)


def test_a_roster_workbook_loads_openpyxl(tmp_path: Path) -> None:
    modules = loaded(base(tmp_path, EXAMPLES / "roster.xlsx"))
    assert "openpyxl" in modules
    assert not modules & {"alibabacloud_dysmsapi20170525", "tencentcloud"}
