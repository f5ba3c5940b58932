"""Answer links: the 收到 page answers on POST only, for the person the link names."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, datetime, timedelta

from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.links import AnswerLinks
from dispatcher.core.restamp import restamp
from tests.engine.conftest import (
    EXAMPLES,
    LINK_SECRET,
    PUBLIC_URL,
    TOKEN,
    Jiaoying,
    eventually,
)

_URLSAFE_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


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
    middle = len(token) // 2
    altered_middle = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    # The last character of unpadded base64 carries spare bits that decoding drops:
    # flipping one leaves the bytes (and so the MAC) intact, and must be refused anyway.
    spare_bit = _URLSAFE_B64[_URLSAFE_B64.index(token[-1]) ^ 1]
    for altered in (altered_middle, token[:-1] + spare_bit):
        forged = await jiaoying.client.post(f"/a/{altered}")
        assert forged.status == 403, altered
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


def _repoint(token: str, row_id: int) -> str:
    """`token` with its row id replaced and its MAC kept: what a tamperer would try."""
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[1:9] = row_id.to_bytes(8, "big")
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


async def _post_twice(jiaoying: Jiaoying) -> tuple[str, str]:
    """The red warning, and a second, separate one for the same grids (its own identifier)."""
    first = (await jiaoying.post("red-rainstorm.xml"))["id"]
    path = EXAMPLES / "warnings" / "red-rainstorm.xml"
    data = warning_to_data(parse_warning(path.read_bytes(), "application/cap+xml"))
    data["identifier"] = f"{data['identifier']}-second"
    response = await jiaoying.client.post(
        "/v1/warnings",
        data=json.dumps(restamp(data, jiaoying.shift)),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    body = await response.json()
    assert response.status == 202, body
    return first, body["id"]


async def _rows_of(jiaoying: Jiaoying) -> dict[tuple[str, str], tuple[int, str]]:
    rows = await jiaoying.rows("select id, warning_id, person_id, state from recipients")
    return {(row.warning_id, row.person_id): (row.id, row.state) for row in rows}


async def test_a_link_answers_for_its_own_person_and_warning_and_nobody_else(
    jiaoying: Jiaoying,
) -> None:
    first, second = await _post_twice(jiaoying)

    def links() -> dict[tuple[str, str], str]:
        return {
            (notice.warning_id, notice.address): notice.answer_url
            for notice in jiaoying.sent("sms", "alert")
            if notice.answer_url
        }

    both = await eventually(
        lambda: (
            len({phone for (_, phone) in links()}) >= 2
            and {warning for (warning, _) in links()} == {first, second}
        )
    )
    assert both
    by_phone = {p.phone: p.id for p in jiaoying.roster.persons.values()}
    phones = sorted({phone for (_, phone) in links() if (second, phone) in links()})
    person_a, person_b = by_phone[phones[0]], by_phone[phones[1]]
    url = links()[(first, phones[0])]
    token = url.rsplit("/", 1)[1]
    rows = await _rows_of(jiaoying)
    row_a2 = rows[(second, person_a)][0]
    row_b1 = rows[(first, person_b)][0]

    # The token's row id (one warning × one person) is under its MAC: pointed at another
    # person's row, or at the same person's row of another warning, it is refused.
    for other_row in (row_b1, row_a2):
        refused = await jiaoying.client.post(f"/a/{_repoint(token, other_row)}")
        assert refused.status == 403
    assert await jiaoying.rows("select id from answers") == []

    pressed = await jiaoying.client.post(url.removeprefix(PUBLIC_URL))
    assert pressed.status == 200
    after = await _rows_of(jiaoying)
    assert after[(first, person_a)][1] == "answered"
    assert after[(second, person_a)][1] != "answered", "a link of warning 1 never answers 2"
    assert after[(first, person_b)][1] != "answered", "a link of A never answers for B"
    answered = await jiaoying.rows("select recipient_id, via, by from answers")
    assert [(a.recipient_id, a.via, a.by) for a in answered] == [
        (rows[(first, person_a)][0], "link", person_a)
    ]


async def test_a_genuine_link_past_its_expiry_answers_nothing(jiaoying: Jiaoying) -> None:
    await jiaoying.post("red-rainstorm.xml")
    notice = (await eventually(lambda: jiaoying.sent("sms", "alert")))[0]
    person = next(p.id for p in jiaoying.roster.persons.values() if p.phone == notice.address)
    row = next(r for (_, p), (r, _) in (await _rows_of(jiaoying)).items() if p == person)
    links = AnswerLinks(LINK_SECRET.encode(), PUBLIC_URL)
    now = datetime.now(UTC)

    expired = await jiaoying.client.post(f"/a/{links.token('r', row, now - timedelta(minutes=2))}")
    assert expired.status == 410
    assert "过期" in await expired.text()
    assert await jiaoying.rows("select id from answers") == []

    # The same row and secret, before its expiry: the refusal was the expiry alone.
    valid = await jiaoying.client.post(f"/a/{links.token('r', row, now + timedelta(minutes=2))}")
    assert valid.status == 200
    assert [a.by for a in await jiaoying.rows("select by from answers")] == [person]
