"""The duty officer's dashboard, end to end in headless Chromium against the running
service: what the page shows is what the API says, it follows changes within 2 s, and
its buttons record answers and door-knock reports as the signed-in token's name.

Screenshots of the list and of a warning's page, at a phone's width (360 px) and a
duty-room monitor's (1920 px), are left in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.engine.conftest import PUBLIC_URL, TOKEN, Jiaoying, eventually
from tests.engine.test_status_api import RED, Api, all_told, planned_persons, replies

DRILL = "drill-flash-flood.xml"
BLUE = "blue-gale.json"
SILENT = {"pending", "notified", "delivered", "unreachable"}
LIVE = 2.0  # seconds: how soon the page must show a change
DESKTOP: ViewportSize = {"width": 1920, "height": 1080}
PHONE: ViewportSize = {"width": 360, "height": 780}
# The level colours of dashboard.css, as the browser computes them.
LEVEL_COLOURS = {
    "red": "rgb(198, 40, 40)",
    "orange": "rgb(239, 108, 0)",
    "blue": "rgb(21, 101, 192)",
}

# What the warning page shows, read from its DOM (the data-* attributes carry the raw
# values; the visible text is checked where it matters to a reader).
READ_WARNING_PAGE = """() => {
  const text = (node) => node.textContent.trim();
  return {
    answered: Number(text(document.querySelector("#w-progress .answered"))),
    total: Number(text(document.querySelector("#w-progress .total"))),
    states: Object.fromEntries([...document.querySelectorAll("#w-progress [data-state]")]
      .map((n) => [n.dataset.state, Number(text(n.querySelector(".value")))])),
    silent: Object.fromEntries([...document.querySelectorAll("#w-silent [data-person]")]
      .map((n) => [n.dataset.person, {
        name: text(n.querySelector(".person-name")),
        phone: text(n.querySelector(".person-phone")),
        attempts: Number(n.querySelector("[data-attempts]").dataset.attempts),
        next_step_at: n.querySelector("[data-next-step-at]").dataset.nextStepAt || null,
      }])),
    places: Object.fromEntries([...document.querySelectorAll("#w-places [data-code]")]
      .map((n) => [n.dataset.code, {
        name: text(n.querySelector(":scope > .place-row .place-name")),
        answered: Number(n.dataset.answered),
        total: Number(n.dataset.total),
      }])),
    chart: Number(document.querySelector("#w-chart svg").dataset.answered),
  };
}"""


def expected_page(summary: dict[str, Any], recipients: list[dict[str, Any]]) -> dict[str, Any]:
    """What the warning page must show, computed here from the API independently of the
    page's own code: a person counts once per township, village and grid they answer for."""
    names: dict[str, str] = {place["code"]: place["name"] for place in summary["places"]}
    persons: dict[str, set[str]] = defaultdict(set)
    answered: dict[str, set[str]] = defaultdict(set)
    grid_names: dict[str, str] = {}
    for recipient in recipients:
        for grid in recipient["grids"]:
            grid_names[grid["code"]] = grid["name"]
            for code in {grid["code"][:9], grid["code"][:12], grid["code"]}:
                persons[code].add(recipient["person_id"])
                if recipient["state"] == "answered":
                    answered[code].add(recipient["person_id"])

    def shown_name(code: str) -> str:
        if code in grid_names:  # a grid is shown without its village's name
            return grid_names[code].removeprefix(names.get(code[:12]) or "")
        return names[code]

    return {
        "answered": summary["answered"],
        "total": summary["recipients"],
        "states": summary["states"],
        "silent": {
            r["person_id"]: {
                "name": r["name"],
                "phone": r["phone"],
                "attempts": len(r["attempts"]),
                "next_step_at": r["next_step_at"],
            }
            for r in recipients
            if r["state"] in SILENT
        },
        "places": {
            code: {"name": shown_name(code), "answered": len(answered[code]), "total": len(ids)}
            for code, ids in persons.items()
        },
        "chart": summary["answered"],
    }


async def api_view(api: Api, warning_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = await api.get(f"/v1/warnings/{warning_id}")
    page = await api.get(f"/v1/warnings/{warning_id}/recipients?limit=500")
    assert page["next"] is None
    return summary, page["recipients"]


async def page_matches_api(page: Page, api: Api, warning_id: str) -> dict[str, Any]:
    """Wait until the page shows what the API says (it polls once a second); the page's
    reading when it does. Fails with both readings if they do not meet within 3 s."""
    deadline = time.monotonic() + 3
    while True:
        expected = expected_page(*await api_view(api, warning_id))
        shown: dict[str, Any] = await page.evaluate(READ_WARNING_PAGE)
        if shown == expected:
            return shown
        if time.monotonic() > deadline:
            assert shown == expected
        await page.wait_for_timeout(200)


async def open_dashboard(browser: Browser, jiaoying: Jiaoying) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=DESKTOP, accept_downloads=True, locale="zh-CN")
    page = await context.new_page()
    await page.goto(str(jiaoying.client.make_url("/")))
    return context, page


async def sign_in(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#sign-in-form button[type=submit]")


def console_errors(page: Page) -> list[str]:
    """Errors the page logs from now on: a script failing, or the Content-Security-Policy
    refusing something the page tried."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def screenshot(page: Page, path: Path, viewport: ViewportSize) -> None:
    await page.set_viewport_size(viewport)
    await page.wait_for_timeout(300)  # the layout settles at the new width
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width}px wide at {viewport['width']}px"
    await page.screenshot(path=str(path), full_page=True)


async def test_the_list_shows_each_warning_by_level_with_its_progress(
    jiaoying: Jiaoying, browser: Browser, artifacts: Path
) -> None:
    api = Api(jiaoying)
    red = (await jiaoying.post(RED))["id"]
    drill = (await jiaoying.post(DRILL))["id"]
    blue = (await jiaoying.post(BLUE))["id"]
    await eventually(lambda: all_told(api, red))
    for person_id in ("LH-WG-001", "LH-WG-004", "LH-WG-008"):
        phone = jiaoying.roster.persons[person_id].phone
        assert phone is not None
        await replies(jiaoying).text_from(phone, "收到")
    context, page = await open_dashboard(browser, jiaoying)

    await expect(page.locator("#sign-in")).to_be_visible()
    await sign_in(page, "not-a-token")
    await expect(page.locator("#sign-in-error")).to_contain_text("令牌无效")
    await expect(page.locator("#view")).to_be_hidden()
    errors = console_errors(page)
    await sign_in(page, TOKEN)
    await expect(page.locator("#who-name")).to_have_text("ops")

    listed = {w["id"]: w for w in (await api.get("/v1/warnings"))["warnings"]}
    for warning_id in (red, drill, blue):
        warning = listed[warning_id]
        card = page.locator(f'[data-warning="{warning_id}"]')
        await expect(card.locator(".answered")).to_have_text(str(warning["answered"]))
        await expect(card.locator(".total")).to_have_text(str(warning["recipients"]))
        await expect(card.locator("[role=progressbar]")).to_have_attribute(
            "aria-valuenow", str(warning["answered"])
        )
        await expect(card.locator(".card-event")).to_have_text(warning["event"])
        await expect(card.locator(".drill-badge")).to_have_count(1 if warning["drill"] else 0)
        stripe = await card.evaluate("(n) => getComputedStyle(n).borderLeftColor")
        assert stripe == LEVEL_COLOURS[warning["level"]], warning["level"]
    assert listed[red]["answered"] == 3
    await expect(page.locator(f'[data-warning="{red}"] .level-badge')).to_have_text("红色")
    await expect(page.locator(f'[data-warning="{drill}"] .drill-badge')).to_have_text("演练")
    # The red one was sent as the test began (the drill and the gale are later that day).
    await expect(page.locator(f'[data-warning="{red}"] [data-since]')).to_have_text(
        re.compile(r"^\d+秒前$")
    )

    await screenshot(page, artifacts / "dashboard-list-desktop.png", DESKTOP)
    await screenshot(page, artifacts / "dashboard-list-phone.png", PHONE)
    assert errors == []
    await context.close()


async def test_a_warning_s_page_follows_answers_and_records_the_operator_s(
    jiaoying: Jiaoying, browser: Browser, artifacts: Path
) -> None:
    api = Api(jiaoying)
    persons = planned_persons(jiaoying.roster)
    red = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, red))
    # Answers through the callbacks: two SMS replies and one press on the answer link.
    for person_id in ("LH-WG-001", "LH-WG-005"):
        phone = persons[person_id].phone
        assert phone is not None
        await replies(jiaoying).text_from(phone, "收到")
    notice = next(
        n for n in jiaoying.sent("sms", "alert") if n.address == persons["LH-WG-008"].phone
    )
    assert notice.answer_url is not None
    pressed = await jiaoying.client.post(notice.answer_url.removeprefix(PUBLIC_URL))
    assert pressed.status == 200
    # The door-knock step (2 s) has run: its tasks are open, the next step is 10 min away.
    tasks = await eventually(lambda: api_tasks(api, red, status="open"), within=6)
    context, page = await open_dashboard(browser, jiaoying)
    await sign_in(page, TOKEN)
    errors = console_errors(page)
    await page.click(f'[data-warning="{red}"]')
    await expect(page.locator("#w-progress .answered")).to_have_text("3")

    shown = await page_matches_api(page, api, red)
    assert shown["answered"] == 3
    assert set(shown["silent"]) == set(persons) - {"LH-WG-001", "LH-WG-005", "LH-WG-008"}
    assert all(p["phone"].count("*") == 4 for p in shown["silent"].values()), "masked"
    assert all(p["attempts"] >= 2 for p in shown["silent"].values())
    assert all(p["next_step_at"] for p in shown["silent"].values())
    assert shown["places"]["441523100"]["name"] == "陆河县河田镇"
    assert shown["places"]["441523100201"]["name"] == "新田村"
    assert shown["places"]["441523100201002"]["name"] == "第二网格"
    await expect(page.locator("#w-progress [data-state=answered]")).to_contain_text("已应答")
    await expect(page.locator("#w-progress [data-state=notified]")).to_contain_text("已通知")
    await expect(page.locator('#w-answered [data-person="LH-WG-008"]')).to_contain_text("链接确认")

    # An SMS answer arrives while the officer watches.
    phone = persons["LH-WG-003"].phone
    assert phone is not None
    started = time.monotonic()
    await replies(jiaoying).text_from(phone, "1")
    await expect(page.locator('#w-silent [data-person="LH-WG-003"]')).to_have_count(
        0, timeout=LIVE * 1000
    )
    await expect(page.locator("#w-progress .answered")).to_have_text("4", timeout=LIVE * 1000)
    assert time.monotonic() - started < LIVE
    await page_matches_api(page, api, red)

    # The officer hears 曾永生 on the radio and records it with the button.
    row = page.locator('#w-silent [data-person="LH-WG-004"]')
    await row.locator("button[data-answer]").click()
    dialog = page.locator("#answer-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#answer-person")).to_contain_text("曾永生")
    await expect(dialog.locator(".by-name")).to_have_text("ops")
    await dialog.locator('input[value="radio"]').check()
    await dialog.locator("#answer-note").fill("对讲机联系上，已组织转移")
    clicked = time.monotonic()
    await dialog.locator("button[type=submit]").click()
    await expect(row).to_have_count(0, timeout=LIVE * 1000)
    assert time.monotonic() - clicked < LIVE
    await expect(page.locator("#toast")).to_contain_text("已登记 曾永生 的应答（对讲，登记人 ops）")
    answered = await api.get(f"/v1/warnings/{red}/recipients?state=answered")
    (entry,) = [r for r in answered["recipients"] if r["person_id"] == "LH-WG-004"]
    answer = entry["answer"]
    assert (answer["via"], answer["by"], answer["how"]) == ("operator", "ops", "radio")
    assert answer["detail"] == "对讲机联系上，已组织转移"
    await expect(page.locator('#w-answered [data-person="LH-WG-004"]')).to_contain_text(
        "值班员登记（对讲） · 登记人 ops"
    )

    # A door-knock team reports back for the task with the most silent persons.
    task = max(tasks, key=lambda t: len(t["silent_persons"]))
    knocked = {p["person_id"] for p in task["silent_persons"]} - {"LH-WG-003", "LH-WG-004"}
    assert knocked
    item = page.locator(f'#w-tasks [data-task="{task["id"]}"]')
    await expect(item).to_contain_text("待填报")
    await item.locator("button[data-report]").click()
    report = page.locator("#report-dialog")
    await expect(report).to_be_visible()
    await expect(report.locator(".by-name")).to_have_text("ops")
    await report.locator("#report-households").fill("12")
    await report.locator("#report-moved").fill("3")
    await report.locator("#report-note").fill("已逐户敲门")
    clicked = time.monotonic()
    await report.locator("button[type=submit]").click()
    await expect(item).to_have_attribute("data-status", "done", timeout=LIVE * 1000)
    assert time.monotonic() - clicked < LIVE
    await expect(item).to_contain_text("到户 12 户，转移 3 人")
    await expect(item).to_contain_text("填报人 ops")
    for person_id in knocked:
        await expect(page.locator(f'#w-silent [data-person="{person_id}"]')).to_have_count(0)
    done = (await api.get(f"/v1/tasks?warning={red}&status=done"))["tasks"]
    assert [t["id"] for t in done] == [task["id"]]
    shown = await page_matches_api(page, api, red)
    assert not knocked & set(shown["silent"])

    async with page.expect_download() as downloading:
        await page.locator("button[data-ledger]").click()
    download = await downloading.value
    assert download.suggested_filename == f"叫应台账-{red}.csv"
    ledger = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert ledger.startswith(b"\xef\xbb\xbf"), "with the BOM Excel needs"
    assert "时间(北京时间)" in ledger.decode("utf-8-sig").splitlines()[0]
    assert "曾永生" in ledger.decode("utf-8-sig")

    toast = page.locator("#toast")
    if await toast.is_visible():  # it hides by itself after 5 s, or when clicked
        await toast.click()
    await expect(toast).to_be_hidden()
    await screenshot(page, artifacts / "dashboard-warning-desktop.png", DESKTOP)
    await screenshot(page, artifacts / "dashboard-warning-phone.png", PHONE)
    assert errors == []
    await context.close()


async def api_tasks(api: Api, warning_id: str, *, status: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = (
        await api.get(f"/v1/tasks?warning={warning_id}&status={status}")
    )["tasks"]
    return tasks
