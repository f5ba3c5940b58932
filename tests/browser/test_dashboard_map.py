"""The warning page's map in headless Chromium: every affected grid placed and coloured
by its state as the API says (`GET /v1/warnings/{id}/map`), following the warning from
silent to escalated to door-knock under way to answered within 2 s of each change.

Report policy (tests/data/report-policy.yaml): supervisor at 2 s, door-knock tasks at
9 s. Screenshots at a phone's and a duty-room monitor's width go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.browser.test_dashboard import (
    DESKTOP,
    PHONE,
    console_errors,
    open_dashboard,
    screenshot,
    sign_in,
)
from tests.engine.conftest import ROOT, TOKEN, Jiaoying, eventually
from tests.engine.test_status_api import RED, Api, all_told, replies

ANSWERED_GRID = "441523100001002"  # 人民社区第二网格: 张国平 answers at once
SILENT_GRID = "441523101201001"  # 水唇村第一网格: nobody answers
# The state colours of dashboard.css, as the browser computes them.
COLOURS = {
    "answered": "rgb(46, 125, 50)",
    "door_knock": "rgb(21, 101, 192)",
    "escalated": "rgb(239, 108, 0)",
    "waiting": "rgb(198, 40, 40)",
}

READ_MAP = """() => Object.fromEntries([...document.querySelectorAll("#w-map .map-grid")]
  .map((g) => {
    const point = g.querySelector(".map-point");
    const box = point.getBoundingClientRect();
    return [g.dataset.code, {
      state: g.dataset.state,
      fill: getComputedStyle(point).fill,
      x: Number(point.getAttribute("cx")),
      y: Number(point.getAttribute("cy")),
      shown: box.width > 0 && box.height > 0,
    }];
  }))"""


@pytest.fixture
def policy_file() -> Path:
    return ROOT / "tests/data/report-policy.yaml"


async def map_matches_api(page: Page, api: Api, warning_id: str) -> dict[str, Any]:
    """Wait (at most 2 s after the API shows it) until the map shows what the API says."""
    deadline = time.monotonic() + 2
    while True:
        served = await api.get(f"/v1/warnings/{warning_id}/map")
        expected = {g["code"]: _drawn(g) for g in served["grids"]}
        shown: dict[str, Any] = await page.evaluate(READ_MAP)
        if shown == expected:
            return shown
        if time.monotonic() > deadline:
            assert shown == expected
        await page.wait_for_timeout(200)


def _drawn(grid: dict[str, Any]) -> dict[str, Any]:
    """How the page must draw a grid of the map JSON."""
    state = grid["state"]
    return {"state": state, "fill": COLOURS[state], "x": grid["x"], "y": grid["y"], "shown": True}


async def test_the_map_colours_each_grid_by_its_state_as_the_warning_unfolds(
    jiaoying: Jiaoying, browser: Browser, artifacts: Path
) -> None:
    api = Api(jiaoying)
    context, page = await open_dashboard(browser, jiaoying)
    await sign_in(page, TOKEN)
    errors = console_errors(page)
    red = (await jiaoying.post(RED))["id"]
    await replies(jiaoying).text_from(jiaoying.phone("LH-WG-003"), "收到")
    await page.click(f'[data-warning="{red}"]')

    shown = await map_matches_api(page, api, red)
    assert shown[ANSWERED_GRID]["state"] == "answered"
    assert shown[SILENT_GRID]["state"] in ("waiting", "escalated")
    await eventually(lambda: all_told(api, red))

    async def state_of(code: str, state: str) -> bool:
        served = await api.get(f"/v1/warnings/{red}/map")
        return any(g["code"] == code and g["state"] == state for g in served["grids"])

    await eventually(lambda: state_of(SILENT_GRID, "escalated"), 6)
    shown = await map_matches_api(page, api, red)
    assert shown[SILENT_GRID]["fill"] == COLOURS["escalated"]
    legend = page.locator('#w-map .map-key[data-state="escalated"] strong')
    served = await api.get(f"/v1/warnings/{red}/map")
    escalated = sum(1 for g in served["grids"] if g["state"] == "escalated")
    assert await legend.text_content() == str(escalated)
    await screenshot(page, artifacts / "dashboard-map-desktop.png", DESKTOP)
    await screenshot(page, artifacts / "dashboard-map-phone.png", PHONE)
    await page.set_viewport_size(DESKTOP)

    await eventually(lambda: state_of(SILENT_GRID, "door_knock"), 12)
    shown = await map_matches_api(page, api, red)
    assert shown[SILENT_GRID]["fill"] == COLOURS["door_knock"]
    tasks = (await api.get(f"/v1/tasks?warning={red}&status=open"))["tasks"]
    (task,) = [t for t in tasks if SILENT_GRID in {g["code"] for g in t["grids"]}]
    await api.post(f"/v1/tasks/{task['id']}/report", {"households_reached": 40}, expect=200)
    shown = await map_matches_api(page, api, red)
    assert shown[SILENT_GRID]["state"] == "answered"
    assert shown[SILENT_GRID]["fill"] == COLOURS["answered"]
    assert len({(g["x"], g["y"]) for g in shown.values()}) == len(shown), "each grid its place"

    async with page.expect_download() as downloading:
        await page.locator("button[data-evaluation]").click()
    download = await downloading.value
    assert download.suggested_filename == f"叫应评估报告-{red}.html"
    report = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8")
    assert "叫应评估报告" in report
    assert f'data-code="{SILENT_GRID}" data-state="answered"' in report, "as the map shows it"
    assert errors == []
    await context.close()
