"""鸣锣吹哨 on the dashboard, end to end in headless Chromium: a village's loudspeakers fail
(the broadcast platform's signed play report says 播发失败), the zone's gong task shows
for its village secretary, the duty officer files its report (a time and a note, no
household counts), and the task shows done on the page and through the task API while
nobody it is about counts as answered.

The broadcast channel is the real adapter playing through the platform's stand-in; the
other channels record. Dashboard policy (tests/data/dashboard-policy.yaml): door-knock
tasks open beside the gong after 2 s, the next step is 10 minutes away. Screenshots at a
phone's and a duty-room monitor's width go to tests/artifacts/.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from channels.base import Channel
from channels.broadcast import Broadcast
from tests.browser.test_dashboard import (
    DESKTOP,
    LIVE,
    PHONE,
    console_errors,
    open_dashboard,
    screenshot,
    sign_in,
)
from tests.engine.conftest import PUBLIC_URL, TOKEN, Jiaoying, eventually
from tests.engine.test_cli_remote import jiaoying_cli, service
from tests.engine.test_status_api import RED, Api, all_told
from tests.standins.broadcast import BroadcastStandIn, callback_key

BEIJING = timezone(timedelta(hours=8))
ZONE = "441523101201"  # over 水唇村's two grids
ZONE_NAME = "水唇镇水唇村应急广播"
ZONE_GRIDS = {"441523101201001": "水唇村第一网格", "441523101201002": "水唇村第二网格"}
SECRETARY = "LH-101201-SJ"  # 刘玉兰, 水唇村's secretary
ZONE_PERSONS = {"LH-WG-011", "LH-WG-012", "LH-WG-013"}  # the grid persons of those grids
PLAY_FAILED = 4  # 播发失败
PLAYED = 3  # 播发成功


@pytest.fixture
async def platform() -> AsyncIterator[BroadcastStandIn]:
    async with BroadcastStandIn() as server:
        yield server


@pytest.fixture
def extra_settings(platform: BroadcastStandIn) -> dict[str, str]:
    # The play reports' route answers only where the platform is configured.
    return {"JIAOYING_BROADCAST_URL": platform.url, "JIAOYING_BROADCAST_TOKEN": platform.token}


@pytest.fixture
async def providers(platform: BroadcastStandIn) -> AsyncIterator[dict[str, Channel]]:
    async with aiohttp.ClientSession() as session:
        yield {
            "broadcast": Broadcast(
                session, url=platform.url, token=platform.token, public_url=PUBLIC_URL
            )
        }


async def play_sent(jiaoying: Jiaoying, key: str) -> bool:
    """The platform's answer to play `key` is recorded, so a report of it has a send to move."""
    rows = await jiaoying.rows("select status from attempts where key = :k", k=key)
    return bool(rows) and rows[0].status == "sent"


async def gong_tasks(api: Api, warning_id: str) -> list[dict[str, Any]]:
    tasks = (await api.get(f"/v1/tasks?warning={warning_id}"))["tasks"]
    return [t for t in tasks if t["kind"] == "gong"]


async def test_a_silenced_zone_s_gong_task_is_reported_from_the_dashboard_and_answers_nobody(
    jiaoying: Jiaoying, browser: Browser, platform: BroadcastStandIn, artifacts: Path
) -> None:
    api = Api(jiaoying)
    platform.behind(PUBLIC_URL, str(jiaoying.client.make_url("/")))
    red = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, red))
    await eventually(lambda: ZONE in {play["zone_id"] for play in platform.plays})
    # 水唇村's loudspeakers are dead (the power is down); every other zone played.
    for play in platform.plays:
        key = callback_key(play["callback_url"])
        await eventually(partial(play_sent, jiaoying, key))
        state = PLAY_FAILED if play["zone_id"] == ZONE else PLAYED
        assert await platform.report(key, state) == (200, {"recorded": True})
    (task,) = await eventually(lambda: gong_tasks(api, red))
    assert task["status"] == "open"
    assert task["zone"] == {"zone_id": ZONE, "name": ZONE_NAME}
    assert task["assignee"]["person_id"] == SECRETARY
    assert {g["code"]: g["name"] for g in task["grids"]} == ZONE_GRIDS
    # The door-knock step (2 s) has run too: the page shows both kinds side by side.
    door_knock_tasks = await eventually(lambda: door_knocks_of(api, red), within=6)
    assert all(t["zone"] is None for t in door_knock_tasks)
    knocks = len(door_knock_tasks)
    answered_before = (await api.get(f"/v1/warnings/{red}"))["answered"]
    # `jiaoying status` in the duty room's terminal: the gong apart, with its zone.
    code, out, err = await jiaoying_cli("status", red, **service(jiaoying))
    assert code == 0, err
    knock_block, gong_block = out.decode().split("鸣锣吹哨任务 open gong tasks (1)")
    assert f"敲门入户任务 open door-knock tasks ({knocks})" in knock_block
    assert f"#{task['id']} " not in knock_block
    assert f"#{task['id']} " in gong_block and f"播发失败：{ZONE_NAME}" in gong_block

    context, page = await open_dashboard(browser, jiaoying)
    await sign_in(page, TOKEN)
    errors = console_errors(page)
    await page.click(f'[data-warning="{red}"]')
    item = page.locator(f'#w-tasks [data-task="{task["id"]}"]')
    await expect(item.locator(".task-head strong")).to_have_text(f"鸣锣吹哨任务 #{task['id']}")
    await expect(item).to_contain_text("待填报")
    await expect(item.locator(".task-assignee")).to_contain_text("刘玉兰（村书记）")
    await expect(item.locator(".task-zone")).to_have_text(f"播发失败：{ZONE_NAME}")
    await expect(item.locator(".task-grids")).to_have_text("网格：水唇村第一网格、水唇村第二网格")
    door_knocks = page.locator("#w-tasks .task-head strong", has_text="敲门任务")
    await expect(door_knocks).to_have_count(knocks)
    await expect(page.locator("#w-tasks .task-zone")).to_have_count(1)  # the gong's alone
    await expect(page.locator("#w-tasks h2")).to_have_text(
        f"敲门入户 · 鸣锣吹哨 待填报 {knocks + 1} · 已填报 0"
    )
    facts = page.locator("#w-progress .facts")
    await expect(facts).to_contain_text(
        f"；敲门任务：待填报 {knocks}，已填报 0；鸣锣吹哨任务：待填报 1，已填报 0"
    )
    button = item.locator("button[data-report]")
    await expect(button).to_have_text("填报鸣锣结果")

    await button.click()
    dialog = page.locator("#report-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#report-title")).to_have_text("填报鸣锣吹哨结果")
    await expect(dialog.locator("#report-task")).to_have_text(
        f"鸣锣吹哨任务 #{task['id']}：水唇村第一网格、水唇村第二网格"
    )
    await expect(dialog.locator("#report-counts")).to_be_hidden()
    assert not await dialog.locator("#report-households").evaluate("(n) => n.required")
    await expect(dialog.locator(".by-name")).to_have_text("ops")
    sounded_at = dialog.locator("#report-sounded-at")
    await expect(sounded_at).to_be_visible()
    # It starts at the present minute, Beijing time (the page's clock is the test's).
    offered = datetime.fromisoformat(await sounded_at.input_value()).replace(tzinfo=BEIJING)
    assert abs(offered - datetime.now(BEIJING)) < timedelta(minutes=2)
    # The village sounded it as its loudspeakers went quiet, minutes before the officer
    # hears of it and types it in.
    sounded = (datetime.now(BEIJING) - timedelta(minutes=3)).replace(second=0, microsecond=0)
    await sounded_at.fill(sounded.strftime("%Y-%m-%dT%H:%M"))
    note = "刘玉兰带队沿村鸣锣吹哨，已通知低洼户转移"
    await dialog.locator("#report-note").fill(note)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(viewport)
        box = await dialog.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        await dialog.screenshot(path=str(artifacts / f"dashboard-gong-dialog-{size}.png"))
    await page.set_viewport_size(DESKTOP)
    clicked = time.monotonic()
    await dialog.locator("button[type=submit]").click()

    await expect(item).to_have_attribute("data-status", "done", timeout=LIVE * 1000)
    assert time.monotonic() - clicked < LIVE
    await expect(page.locator("#toast")).to_have_text(f"已提交鸣锣吹哨任务 #{task['id']} 的报告")
    report = item.locator(".task-report")
    await expect(report).to_contain_text(f"已鸣锣吹哨 {sounded.strftime('%m/%d %H:%M:%S')}")
    await expect(report.locator(".task-note")).to_have_text(note)
    await expect(report.locator(".task-by")).to_contain_text("填报人 ops")
    await expect(item.locator("button[data-report]")).to_have_count(0)
    # The gong is counted as a gong reported, not as a door-knock done.
    await expect(facts).to_contain_text(
        f"；敲门任务：待填报 {knocks}，已填报 0；鸣锣吹哨任务：待填报 0，已填报 1"
    )

    (done,) = (await api.get(f"/v1/tasks?warning={red}&status=done"))["tasks"]
    assert done["id"] == task["id"] and done["reported_at"] is not None
    assert done["report"]["note"] == note
    assert done["report"]["reported_by"] == "ops"
    assert datetime.fromisoformat(done["report"]["sounded_at"]) == sounded
    # The gong warned the village; none of its grid persons answered by it.
    summary = await api.get(f"/v1/warnings/{red}")
    assert summary["answered"] == answered_before
    # Its summary counts the gong as a gong, apart from the door-knocks.
    assert summary["tasks"]["by_kind"] == {
        "door_knock": {"open": knocks, "done": 0},
        "gong": {"open": 0, "done": 1},
    }
    assert [r["kind"] for r in summary["tasks"]["reports"]] == ["gong"]
    recipients = (await api.get(f"/v1/warnings/{red}/recipients?limit=500"))["recipients"]
    zone_states = {r["person_id"]: r["state"] for r in recipients if r["person_id"] in ZONE_PERSONS}
    assert set(zone_states) == ZONE_PERSONS
    assert "answered" not in zone_states.values()
    for person_id in ZONE_PERSONS:
        await expect(page.locator(f'#w-silent [data-person="{person_id}"]')).to_have_count(1)
    await expect(page.locator("#w-progress .answered")).to_have_text(str(answered_before))

    toast = page.locator("#toast")
    if await toast.is_visible():  # it hides by itself after 5 s, or when clicked
        await toast.click()
    await screenshot(page, artifacts / "dashboard-gong-desktop.png", DESKTOP)
    await screenshot(page, artifacts / "dashboard-gong-phone.png", PHONE)
    assert errors == []
    await context.close()


async def door_knocks_of(api: Api, warning_id: str) -> list[dict[str, Any]]:
    tasks = (await api.get(f"/v1/tasks?warning={warning_id}"))["tasks"]
    return [t for t in tasks if t["kind"] == "door_knock"]
