"""The SMS carries two parts at most; the page behind its link carries the whole warning.

A grid person opens the link from the SMS they were sent and reads what the SMS had to
cut: the full instruction and description, the level in its colour, when the warning was
issued and ends in Beijing time, and their own grid by name — above the 收到 button.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta, timezone

from dispatcher.core.cap import parse_cap
from dispatcher.core.sms_fit import sms_parts
from tests.engine.conftest import EXAMPLES, PUBLIC_URL, Jiaoying, eventually

RED = parse_cap((EXAMPLES / "warnings/red-rainstorm.xml").read_bytes())
BEIJING = timezone(timedelta(hours=8))


def _text(page: str) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, lines joined."""
    return html.unescape(re.sub(r"<[^>]+>", "", page)).replace("\n", "")


async def test_the_page_behind_an_sms_link_shows_the_whole_warning(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    sms = await eventually(lambda: jiaoying.sent("sms", "alert"))
    notice = sms[0]
    info = RED.primary
    assert sms_parts(notice.text) <= 2
    assert info.instruction not in notice.text, "the SMS could not carry all of it"
    assert "…" in notice.text
    assert notice.answer_url is not None and notice.answer_url in notice.text

    page = await jiaoying.client.get(notice.answer_url.removeprefix(PUBLIC_URL))
    assert page.status == 200
    body = await page.text()
    shown = _text(body)
    assert info.instruction in shown, "the instruction the SMS cut is on the page, whole"
    assert info.description in shown
    assert info.headline in shown
    assert "红色预警" in shown
    assert 'data-level="red"' in body

    sent = (RED.sent + jiaoying.shift).astimezone(BEIJING)
    expires = (info.expires or RED.sent) + jiaoying.shift
    assert f'datetime="{sent.isoformat()}"' in body
    assert f'datetime="{expires.astimezone(BEIJING).isoformat()}"' in body
    assert sent.strftime("%Y年%m月%d日 %H:%M") in shown
    assert "+08:00" in body

    person = next(p for p in jiaoying.roster.persons.values() if p.phone == notice.address)
    grid_names = [jiaoying.roster.grids[code].name for code in person.grid_codes]
    assert grid_names, "an alert goes to grid persons"
    for name in grid_names:
        assert name in shown, f"the person's own grid {name} is named"
        assert name in notice.text, "the SMS names the grid too"

    # The whole warning stands above the button.
    assert body.index(info.instruction) < body.index("<button")
    assert body.index(info.description) < body.index("<button")


async def test_a_cancelled_warning_says_so_on_its_page(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    notice = (await eventually(lambda: jiaoying.sent("sms", "alert")))[0]
    await jiaoying.post("red-rainstorm-cancel.xml")
    assert notice.answer_url is not None

    page = await jiaoying.client.get(notice.answer_url.removeprefix(PUBLIC_URL))
    shown = _text(await page.text())
    assert page.status == 200
    assert "本预警已取消" in shown
    cancel = parse_cap((EXAMPLES / "warnings/red-rainstorm-cancel.xml").read_bytes())
    assert cancel.primary.description in shown, "the page says what the Cancel says"


async def test_a_supervisors_page_names_the_grids_of_the_silent_persons(
    jiaoying: Jiaoying,
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    summons = await eventually(lambda: jiaoying.sent("sms", "escalation"), within=8)
    notice = summons[0]
    assert notice.answer_url is not None
    assert sms_parts(notice.text) <= 2

    page = await jiaoying.client.get(notice.answer_url.removeprefix(PUBLIC_URL))
    shown = _text(await page.text())
    rows = await jiaoying.rows(
        "select r.grid_codes from recipients r join escalations e on e.recipient_id = r.id"
        " join summons s on s.id = e.summons_id join attempts a on a.summons_id = s.id"
        " where a.key = :key",
        key=notice.key,
    )
    codes = {code for row in rows for code in json.loads(row.grid_codes)}
    assert codes
    for code in codes:
        assert jiaoying.roster.grids[code].name in shown
    assert "未应答网格" in shown, "a supervisor reads whose grids these are"
