"""Warnings from other systems through the running service: a broken document is refused
with every defect in the 4xx body and the dead letter; a warning that states no level
takes the policy's default_level, or is dead-lettered saying the policy names none."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dispatcher.core.cap import read_cap
from dispatcher.core.restamp import restamp_cap, shift_to
from tests.engine.conftest import ROOT, TOKEN, Jiaoying, eventually

FEEDS = ROOT / "tests/data/cap"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def policy_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test policy, with `default_level: <param>` when the test asks for one."""
    policy = (ROOT / "tests/data/fast-policy.yaml").read_text(encoding="utf-8")
    default = getattr(request, "param", None)
    path = tmp_path / "policy.yaml"
    path.write_text(f"default_level: {default}\n{policy}" if default else policy, "utf-8")
    return path


async def post_cap(jiaoying: Jiaoying, name: str) -> tuple[int, dict[str, Any]]:
    """Post a feed as it is, but moved to now (its own timing kept)."""
    body = (FEEDS / name).read_bytes()
    reading = read_cap(body)
    if reading.warning is not None:  # a broken one goes as it is
        body = restamp_cap(body, shift_to(reading.warning.sent, datetime.now(UTC)))
    response = await jiaoying.client.post(
        "/v1/warnings", data=body, headers={**AUTH, "Content-Type": "application/cap+xml"}
    )
    return response.status, await response.json()


async def newest_dead_letter(jiaoying: Jiaoying) -> dict[str, Any]:
    response = await jiaoying.client.get("/v1/dead-letters", headers=AUTH)
    letters: list[dict[str, Any]] = (await response.json())["dead_letters"]
    return letters[0]


async def test_a_broken_document_is_refused_with_every_defect(jiaoying: Jiaoying) -> None:
    status, body = await post_cap(jiaoying, "broken-five-defects.xml")
    assert status == 422
    paths = [
        "alert/sent",
        "alert/status",
        "alert/info[0]/urgency",
        "alert/info[1]/area[0]/polygon[0]",
        "alert/info[1]/area[1]/circle[0]",
    ]
    assert [problem["path"] for problem in body["problems"]] == paths
    assert "polygon is not closed" in body["problems"][3]["reason"]
    assert body["error"].startswith("5 problems:")
    letter = await newest_dead_letter(jiaoying)
    assert letter["id"] == body["dead_letter_id"]
    for path in paths:
        assert f"{path}: " in letter["reason"], "the dead letter keeps every defect"


async def test_no_level_and_no_default_is_dead_lettered_saying_so(jiaoying: Jiaoying) -> None:
    status, body = await post_cap(jiaoying, "geohazard-unknown-severity.xml")
    assert status == 422
    assert body["path"] == "alert/info[0]/severity"
    assert "severity Unknown" in body["error"]
    assert "the policy names no default_level" in body["error"]
    letter = await newest_dead_letter(jiaoying)
    assert letter["identifier"] == "44152341700000_20260720063000"
    assert "default_level" in letter["reason"]
    assert not jiaoying.sent("sms")


@pytest.mark.parametrize("policy_file", ["yellow"], indirect=True)
async def test_no_level_takes_the_policys_default_level(jiaoying: Jiaoying) -> None:
    status, body = await post_cap(jiaoying, "geohazard-unknown-severity.xml")
    assert status == 202, body
    warning = await (await jiaoying.client.get(f"/v1/warnings/{body['id']}", headers=AUTH)).json()
    assert warning["level"] == "yellow"
    sms = await eventually(lambda: jiaoying.sent("sms", "alert"))
    assert sms[0].text.startswith("【黄色预警】")
    assert sms[0].level == "yellow"


async def test_a_foreign_feed_that_names_no_place_here_is_refused_with_each_area(
    jiaoying: Jiaoying,
) -> None:
    # Its EMMA_ID and NUTS2 zones: no area alias of the roster places them.
    status, body = await post_cap(jiaoying, "meteoalarm-at-thunderstorm.xml")
    assert status == 422
    (problem,) = body["problems"]
    assert problem["path"] == "alert/info/area"
    assert problem["reason"].startswith("unknown area: no grid in this roster for ")
    for area in ("Wien", "Niederösterreich", "Vienna [EMMA_ID AT009, NUTS2 AT13]", "Lower Austria"):
        assert area in problem["reason"]
