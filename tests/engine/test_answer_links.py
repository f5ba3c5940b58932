"""Answer links: the 收到 page answers on POST only, for the person the link names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatcher.links import AnswerLinks
from tests.engine.conftest import LINK_SECRET, PUBLIC_URL, Jiaoying, eventually


async def _states(jiaoying: Jiaoying) -> dict[str, str]:
    rows = await jiaoying.rows("select person_id, state from recipients")
    return {row.person_id: row.state for row in rows}


async def test_opening_the_link_does_not_answer_pressing_the_button_does(
    jiaoying: Jiaoying,
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    sms = await eventually(lambda: jiaoying.sent("sms", "alert"))
    notice = sms[0]
    assert notice.answer_url is not None
    assert notice.answer_url.startswith(f"{PUBLIC_URL}/a/")
    assert notice.answer_url in notice.text, "the SMS carries the link"
    path = notice.answer_url.removeprefix(PUBLIC_URL)
    person = next(p.id for p in jiaoying.roster.persons.values() if p.phone == notice.address)

    page = await jiaoying.client.get(path)
    html = await page.text()
    assert page.status == 200
    assert "收到" in html
    assert '<form method="post">' in html
    assert (await _states(jiaoying))[person] != "answered", "a GET (link preview) never answers"

    pressed = await jiaoying.client.post(path)
    assert pressed.status == 200
    assert "已确认收到" in await pressed.text()
    assert (await _states(jiaoying))[person] == "answered"
    answers = await jiaoying.rows("select via, by from answers")
    assert [(a.via, a.by) for a in answers] == [("link", person)]

    again = await jiaoying.client.post(path)
    assert again.status == 200
    assert len(await jiaoying.rows("select id from answers")) == 1, "pressing twice is one answer"


async def test_a_tampered_or_expired_link_records_nothing(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    notice = (await eventually(lambda: jiaoying.sent("sms", "alert")))[0]
    assert notice.answer_url is not None
    token = notice.answer_url.rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    forged = await jiaoying.client.post(f"/a/{flipped}")
    assert forged.status == 403
    assert "无效" in await forged.text()

    links = AnswerLinks(LINK_SECRET.encode(), PUBLIC_URL)
    stale = links.token("r", 1, datetime.now(UTC) - timedelta(minutes=5))
    expired = await jiaoying.client.post(f"/a/{stale}")
    assert expired.status == 410
    assert "过期" in await expired.text()

    other_secret = AnswerLinks(b"another-secret-" + b"y" * 32, PUBLIC_URL)
    foreign = other_secret.token("r", 1, datetime.now(UTC) + timedelta(hours=1))
    assert (await jiaoying.client.post(f"/a/{foreign}")).status == 403

    assert await jiaoying.rows("select id from answers") == []
    assert "answered" not in (await _states(jiaoying)).values()


async def test_a_supervisors_link_answers_for_the_silent_persons_it_named(
    jiaoying: Jiaoying,
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    summons = await eventually(lambda: jiaoying.sent("sms", "escalation"), within=8)
    notice = summons[0]
    assert notice.answer_url is not None
    supervisor = next(p for p in jiaoying.roster.persons.values() if p.phone == notice.address)
    named = {
        row.recipient_id
        for row in await jiaoying.rows(
            "select e.recipient_id from escalations e join summons s on s.id = e.summons_id"
            " where s.person_id = :p",
            p=supervisor.id,
        )
    }
    assert named

    pressed = await jiaoying.client.post(notice.answer_url.removeprefix(PUBLIC_URL))
    assert pressed.status == 200
    answered = await jiaoying.rows(
        "select recipient_id, via, by from answers where via = 'supervisor'"
    )
    assert {row.recipient_id for row in answered} >= named
    assert {row.by for row in answered} == {supervisor.id}
