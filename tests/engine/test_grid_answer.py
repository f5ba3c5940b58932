"""`grid_answer: any` (A/B-role grids): a grid person's answer also closes the colleagues
whose every grid now has an answer, and nobody else."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dispatcher.http.keys import REPLIES
from dispatcher.store.receipts import Receipt
from tests.engine.conftest import ROOT, Jiaoying, app_of, eventually
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

# In the example roster, grid 441523100001001 has WG-001 and WG-002; WG-015 serves two
# grids: 441523101202002 with WG-016, and 441523101203001 with WG-017.
ONE_GRID = ("LH-WG-001", "LH-WG-002")
TWO_GRIDS = ("LH-WG-015", "LH-WG-016", "LH-WG-017")


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    fast = (ROOT / "tests/data/fast-policy.yaml").read_text(encoding="utf-8")
    path = tmp_path / "grid-any.yaml"
    path.write_text(fast.replace("red:\n", "red:\n  grid_answer: any\n", 1), encoding="utf-8")
    return path


async def _reply(jiaoying: Jiaoying, *persons: str) -> None:
    """SMS "1" from each of `persons`, sent at the same moment, in this order."""
    replies = app_of(jiaoying.client)[REPLIES]
    await asyncio.gather(
        *(
            replies.text_from(jiaoying.phone(person), "1", receipt=Receipt("twilio-sms", person))
            for person in persons
        )
    )


async def test_a_colleague_is_closed_once_all_their_grids_have_answered(
    jiaoying: Jiaoying,
) -> None:
    await jiaoying.post("red-rainstorm.xml")
    await eventually(lambda: jiaoying.sent("sms", "alert"))

    await _reply(jiaoying, "LH-WG-016")
    answers = await jiaoying.answers_by_person()
    assert answers == {"LH-WG-016": [("sms", "LH-WG-016")]}, "WG-015's other grid is silent"

    await _reply(jiaoying, "LH-WG-017", "LH-WG-001", "LH-WG-002")
    answers = await jiaoying.answers_by_person()
    assert answers["LH-WG-017"] == [("sms", "LH-WG-017")]
    assert answers["LH-WG-015"] == [("grid", "LH-WG-017")], "both of its grids now answered"
    first, second = ONE_GRID
    if jiaoying.db.is_sqlite:  # recorded in arrival order: WG-001's answer came first
        assert answers[first] == [("sms", first)]
        assert answers[second] == [("grid", first)]
    else:  # two transactions at once: whichever commits first may close the other's chain
        assert answers[first] in ([("sms", first)], [("grid", second)])
        assert answers[second] in ([("sms", second)], [("grid", first)])
        vias = {answers[first][0][0], answers[second][0][0]}
        assert "sms" in vias, "a grid answer comes from a colleague's own answer"
    answered = {person for person in answers}
    assert answered == {*ONE_GRID, *TWO_GRIDS}, "no one outside those grids"
    states = await jiaoying.rows("select person_id, state from recipients")
    assert {row.person_id for row in states if row.state == "answered"} == answered
