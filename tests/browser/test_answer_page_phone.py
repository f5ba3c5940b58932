"""The answer page on a 360 px phone, as a grid person opens it from their SMS: the whole
warning readable without sideways scrolling, the 收到 button always within reach, and
pressing it answers. Screenshots are left in tests/artifacts/answer-page-phone*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from dispatcher.core.cap import parse_cap
from tests.browser.test_dashboard import PHONE
from tests.engine.conftest import EXAMPLES, PUBLIC_URL, Jiaoying, eventually

RED = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes())
RE_BEIJING = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


async def test_the_answer_page_reads_on_a_phone_and_answers(
    jiaoying: Jiaoying, browser: Browser, artifacts: Path
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    notice = (await eventually(lambda: jiaoying.sent("sms", "alert")))[0]
    assert notice.answer_url is not None
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    page = await context.new_page()
    await page.goto(str(jiaoying.client.make_url(notice.answer_url.removeprefix(PUBLIC_URL))))

    await expect(page.locator(".instruction")).to_have_text(RED.primary.instruction)
    await expect(page.locator(".description")).to_have_text(RED.primary.description)
    await expect(page.locator(".level")).to_have_text("红色预警")
    colour = await page.locator(".level").evaluate("(n) => getComputedStyle(n).backgroundColor")
    assert colour == "rgb(198, 40, 40)"
    await expect(page.locator("time.sent")).to_have_attribute("datetime", RE_BEIJING)
    button = page.get_by_role("button", name="收到")
    await expect(button).to_be_in_viewport()  # at the top of the page and scrolled down
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    # What the phone shows: the top of the page, then scrolled to the end, the button
    # held at the bottom of the screen the whole way.
    await page.screenshot(path=str(artifacts / "answer-page-phone.png"))
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await expect(button).to_be_in_viewport()
    await page.screenshot(path=str(artifacts / "answer-page-phone-end.png"))

    await button.click()
    await expect(page.locator(".done")).to_contain_text("已确认收到")
    answers = await jiaoying.rows("select via from answers")
    assert [row.via for row in answers] == ["link"]
    await context.close()
