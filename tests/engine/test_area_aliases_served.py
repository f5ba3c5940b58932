"""Warnings placed by the roster's area aliases, through the running service.

CAP XML is posted as its producer wrote it, moved to now (`post_cap`): the county
hydrology station's warning placed by river reach and reservoir reaches the persons the
example roster's area_aliases.csv names; a US NWS CAP 1.1 warning, whose FIPS6 and UGC
codes no alias places, is dead-lettered as "no grid in this roster" with its area named,
and the dead letter is listed by the API.
"""

from __future__ import annotations

from tests.engine.conftest import TOKEN, Jiaoying, eventually
from tests.engine.test_wider_cap import post_cap

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_a_warning_placed_by_description_and_reservoir_reaches_the_aliased_grids(
    jiaoying: Jiaoying,
) -> None:
    status, created = await post_cap(jiaoying, "luhe-hydrology-areadesc.xml")
    assert status == 202, created

    rows = await jiaoying.rows(
        "select person_id from recipients where warning_id = :w", w=created["id"]
    )
    reached = {row.person_id for row in rows}
    # 新田村, 高潭村 and 水唇村's grid persons; nobody of 螺溪镇 or 东坑镇.
    expected = {
        person.id
        for code in jiaoying.roster.grids
        if code[:12] in ("441523100201", "441523100202", "441523101201")
        for person in jiaoying.roster.persons_of_grid(code)
    }
    assert reached == expected
    await eventually(lambda: len(jiaoying.sent("sms", "alert")) >= len(expected))
    texted = {notice.address for notice in jiaoying.sent("sms", "alert")}
    assert texted == {jiaoying.roster.persons[pid].phone for pid in expected} - {None}


async def test_a_foreign_warning_no_alias_places_is_dead_lettered_naming_its_area(
    jiaoying: Jiaoying,
) -> None:
    status, refused = await post_cap(jiaoying, "nws-severe-thunderstorm-cap11.xml")
    assert status == 422, refused

    reason = refused["problems"][0]["reason"]
    assert reason.startswith("unknown area: no grid in this roster for Cleveland; McClain [")
    assert "UGC OKC027" in reason and "area_aliases" in reason
    listed = await jiaoying.client.get("/v1/dead-letters", headers=AUTH)
    (letter,) = (await listed.json())["dead_letters"]
    assert letter["id"] == refused["dead_letter_id"]
    assert "no grid in this roster for Cleveland; McClain" in letter["reason"]
    assert not await jiaoying.rows("select id from warnings")
