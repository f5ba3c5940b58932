"""The dashboard shows the roster in force on every view, and a refused reload loudly.

Headless Chromium against the running service (tests/browser/conftest.py), whose roster
is a copy of the example the test edits. Screenshots of a refused reload at a phone's
and a duty-room monitor's width are left in tests/artifacts/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_dashboard import (
    DESKTOP,
    LIVE,
    PHONE,
    console_errors,
    open_dashboard,
    screenshot,
    sign_in,
)
from tests.engine.conftest import EXAMPLES, TOKEN, Jiaoying
from tests.engine.test_status_api import RED, Api


@pytest.fixture
def roster_dir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "roster", tmp_path / "county-roster")
    return tmp_path / "county-roster"


@pytest.fixture
def extra_settings(roster_dir: Path) -> dict[str, str]:
    return {"JIAOYING_ROSTER_DIR": str(roster_dir)}


async def reload(api: Api, *, expect: int) -> dict[str, Any]:
    answer: dict[str, Any] = await api.post("/v1/roster/reload", b"", expect=expect)
    return answer


async def test_the_roster_in_force_and_a_refused_reload_are_shown(
    jiaoying: Jiaoying, browser: Browser, roster_dir: Path, artifacts: Path
) -> None:
    api = Api(jiaoying)
    red = (await jiaoying.post(RED))["id"]
    first = (await api.get("/v1/roster"))["in_force"]
    context, page = await open_dashboard(browser, jiaoying)
    await sign_in(page, TOKEN)
    errors = console_errors(page)

    bar = page.locator("#roster")
    await expect(bar.locator(".roster-hash")).to_have_text(first["digest"][:8])
    await expect(bar.locator(".roster-counts")).to_contain_text(
        f"{first['grids']} 个网格 · {first['persons']} 人 · {first['zones']} 个广播区"
    )
    await expect(bar.locator(".roster-loaded")).to_contain_text("载入")
    await expect(bar.locator(".roster-refused")).to_have_count(0)

    # A grid person's row typed with a second person's id; and a grid Excel numbered.
    persons = roster_dir / "persons.csv"
    original = persons.read_text(encoding="utf-8-sig")
    persons.write_text(
        original
        + "LH-WG-001,黄伟明（兼）,13800130101,,网格员,441523100001001,LH-100001-SJ\n"
        + "LH-WG-106,吴思远,13800130106,,网格员,4.41523E+14,LH-100001-SJ\n",
        encoding="utf-8-sig",
    )
    refused = await reload(api, expect=422)
    problems = refused["problems"]
    assert len(problems) == 2
    warning = page.locator("#roster .roster-refused")
    await expect(warning).to_be_visible(timeout=LIVE * 1000)
    await expect(warning).to_have_attribute("data-problems", "2")
    await expect(warning).to_contain_text("名册重新载入失败")
    await expect(warning).to_contain_text(f"仍使用名册 {first['digest'][:8]}")
    await expect(warning.locator(".roster-problems li")).to_have_text(problems)
    await expect(bar.locator(".roster-hash")).to_have_text(first["digest"][:8])
    color = await warning.evaluate("(n) => getComputedStyle(n).borderLeftColor")
    assert color == "rgb(198, 40, 40)", "in the red of a red warning"

    # On a warning's page too.
    await page.click(f'[data-warning="{red}"]')
    await expect(page.locator("#w-progress")).to_be_visible()
    await expect(warning).to_be_visible()
    await screenshot(page, artifacts / "dashboard-roster-refused-desktop.png", DESKTOP)
    await screenshot(page, artifacts / "dashboard-roster-refused-phone.png", PHONE)
    await page.set_viewport_size(DESKTOP)

    # Corrected and reloaded: the new roster is shown, the alarm is gone.
    persons.write_text(
        original + "LH-WG-106,吴思远,13800130106,,网格员,441523100001001,LH-100001-SJ\n",
        encoding="utf-8-sig",
    )
    loaded = (await reload(api, expect=200))["in_force"]
    await expect(warning).to_have_count(0, timeout=LIVE * 1000)
    await expect(bar.locator(".roster-hash")).to_have_text(loaded["digest"][:8])
    await expect(bar.locator(".roster-counts")).to_contain_text(f"{first['persons'] + 1} 人")
    assert errors == []
    await context.close()
