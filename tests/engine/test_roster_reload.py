"""Roster changes without a restart: `POST /v1/roster/reload` and `GET /v1/roster`.

The service runs on a copy of the example roster (JIAOYING_ROSTER_DIR), which each test
edits as a township office would, in a spreadsheet: a grid person replaced, a supervisor
changed, rows Excel mangled. A good roster applies to the warnings that arrive after it;
a bad one leaves the old one in force and every problem is listed; a warning in flight
keeps the roster it started with. Fast test policy: supervisors are called at 3 s.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from dispatcher.core.phones import mask_phones_in_text, normalise_phone
from dispatcher.files.roster_dir import check_roster
from dispatcher.runtime.settings import env_name
from tests.engine.conftest import EXAMPLES, Jiaoying, eventually
from tests.engine.test_status_api import RED, Api, all_told, replies
from tests.standins.twilio import DEFAULT_SID, DEFAULT_TOKEN

ROSTER_COPY = "county-roster"
HEADER = "id,name,phone,wechat_openid,role,grid_codes,supervisor_id"


@pytest.fixture
def roster_dir(tmp_path: Path) -> Path:
    """The roster the service reloads from: the example's, as a township keeps it."""
    shutil.copytree(EXAMPLES / "roster", tmp_path / ROSTER_COPY)
    return tmp_path / ROSTER_COPY


@pytest.fixture
def extra_settings(roster_dir: Path) -> dict[str, str]:
    return {"JIAOYING_ROSTER_DIR": str(roster_dir)}


def edit_persons(roster_dir: Path, edits: dict[str, str | None], added: list[str]) -> None:
    """Rewrite persons.csv as Excel saves it ("CSV UTF-8": a BOM, CRLF line ends): each
    person id of `edits` replaced by its row (None: the row deleted), `added` appended."""
    path = roster_dir / "persons.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == HEADER
    kept = []
    for line in lines[1:]:
        person_id = line.split(",", 1)[0]
        if person_id in edits:
            replacement = edits.pop(person_id)
            if replacement is not None:
                kept.append(replacement)
        else:
            kept.append(line)
    assert not edits, f"not in the roster: {sorted(edits)}"
    text = "\r\n".join([HEADER, *kept, *added]) + "\r\n"
    path.write_text(text, encoding="utf-8-sig", newline="")


def row_of(roster_dir: Path, person_id: str) -> list[str]:
    for line in (roster_dir / "persons.csv").read_text(encoding="utf-8-sig").splitlines():
        if line.startswith(f"{person_id},"):
            return line.split(",")
    raise AssertionError(f"{person_id} is not in the roster")


async def roster(api: Api) -> dict[str, Any]:
    view: dict[str, Any] = await api.get("/v1/roster")
    return view


async def reload(api: Api, *, expect: int) -> dict[str, Any]:
    answer: dict[str, Any] = await api.post("/v1/roster/reload", b"", expect=expect)
    return answer


def phone(number: str) -> str:
    return normalise_phone(number)


async def test_the_roster_in_force_is_shown_and_a_good_reload_applies_to_the_next_warning(
    jiaoying: Jiaoying, roster_dir: Path
) -> None:
    api = Api(jiaoying)
    first = await roster(api)
    in_force = first["in_force"]
    assert in_force["source"] == str(roster_dir)
    assert (in_force["grids"], in_force["persons"]) == (
        len(jiaoying.roster.grids),
        len(jiaoying.roster.persons),
    )
    assert in_force["zones"] == len({zone.zone_id for zone in jiaoying.roster.zones})
    assert len(in_force["digest"]) == 64
    assert first["last_reload"] is None

    # 张国平 (LH-WG-003) moved away; his grid's new person was typed with spaces in her
    # number and a full-width bracket in her role, and one more grid person joined.
    leaving = row_of(roster_dir, "LH-WG-003")
    edit_persons(
        roster_dir,
        {
            "LH-WG-003": "LH-WG-103,阿依古丽·买买提,138 0013 0103,,网格员（新任，2026年12月起）,"
            f"{leaving[5]},{leaving[6]}"
        },
        [f"LH-WG-104,欧阳晓雯,+86 138-0013-0104,,网格员(B角),{leaving[5]},{leaving[6]}"],
    )
    loaded = await reload(api, expect=200)
    assert loaded["in_force"]["digest"] != in_force["digest"]
    assert loaded["in_force"]["persons"] == in_force["persons"] + 1
    assert loaded["in_force"]["grids"] == in_force["grids"]
    assert loaded["in_force"]["loaded_at"] > in_force["loaded_at"]
    attempt = loaded["last_reload"]
    assert (attempt["outcome"], attempt["by"], attempt["problems"]) == ("loaded", "ops", [])
    assert attempt["digest"] == loaded["in_force"]["digest"]
    assert await roster(api) == loaded

    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    texted = {notice.address for notice in jiaoying.sent("sms", "alert")}
    assert {phone("13800130103"), phone("13800130104")} <= texted
    assert phone(leaving[2]) not in texted
    recipients = await api.get(f"/v1/warnings/{warning_id}/recipients?limit=500")
    names = {r["person_id"]: r["name"] for r in recipients["recipients"]}
    assert names["LH-WG-103"] == "阿依古丽·买买提"
    assert "LH-WG-003" not in names

    # The same files again: nothing changes, and the answer says so.
    again = await reload(api, expect=200)
    assert again["in_force"] == loaded["in_force"]
    assert again["last_reload"]["outcome"] == "unchanged"


async def test_a_bad_roster_is_refused_whole_with_every_problem_and_the_old_one_stays(
    jiaoying: Jiaoying, roster_dir: Path
) -> None:
    api = Api(jiaoying)
    before = (await roster(api))["in_force"]
    # What a week of spreadsheet editing leaves: a number Excel turned into 1.38E+10, a
    # supervisor who is not in the file, a grid nobody added to grids.csv, an id typed
    # twice, and in grids.csv a village whose latitude and longitude were swapped.
    edit_persons(
        roster_dir,
        {
            "LH-WG-003": "LH-WG-003,张国平,1.38001E+10,,网格员,441523100001002,LH-100001-SJ",
            "LH-WG-005": "LH-WG-005,温晓燕,13800130005,,网格员(A角),441523100201002,LH-100201-SX",
        },
        [
            "LH-WG-105,罗志坚,13800130105,,网格员,441523100299001,LH-100201-SJ",
            "LH-WG-001,黄伟明,13800130001,,网格员(A角),441523100001001,LH-100001-SJ",
        ],
    )
    grids = roster_dir / "grids.csv"
    grids.write_text(
        grids.read_text(encoding="utf-8-sig")
        + "441523100201009,新田村第九网格,441523100201,88,301,115.64737,23.29924\n",
        encoding="utf-8-sig",
    )
    expected = [mask_phones_in_text(problem) for problem in check_roster(roster_dir)]
    assert len(expected) == 5

    with capture_logs() as logs:
        refused = await reload(api, expect=422)
    assert refused["error"].startswith(f"the roster at {roster_dir} was not taken (5 problems)")
    assert refused["problems"] == expected
    assert any(p.startswith("grids.csv:") and "swapped" in p for p in expected)
    assert any("spreadsheet" in p for p in expected)
    assert refused["roster"]["in_force"] == before
    attempt = refused["roster"]["last_reload"]
    assert (attempt["outcome"], attempt["digest"]) == ("refused", None)
    assert attempt["problems"] == expected
    (logged,) = [line for line in logs if line["event"].startswith("roster reload refused")]
    assert logged["problems"] == expected
    assert logged["log_level"] == "error"

    shown = await roster(api)
    assert shown["in_force"] == before
    assert shown["last_reload"]["outcome"] == "refused"

    # The old roster is in force: the next warning reaches 张国平 at his old number.
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    texted = {notice.address for notice in jiaoying.sent("sms", "alert")}
    assert phone("13800130003") in texted
    assert phone("13800130105") not in texted


async def test_a_warning_in_flight_keeps_its_roster_across_a_reload(
    jiaoying: Jiaoying, roster_dir: Path
) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    old_secretary = row_of(roster_dir, "LH-100001-SJ")
    assert row_of(roster_dir, "LH-WG-001")[6] == "LH-100001-SJ"

    # Mid-warning the community gets a new secretary for its grid persons, and 陈丽娟
    # (LH-WG-002) leaves the roster.
    grid_persons = {pid: row_of(roster_dir, pid) for pid in ("LH-WG-001", "LH-WG-003")}
    edit_persons(
        roster_dir,
        {
            **{pid: ",".join([*row[:6], "LH-100001-SJ2"]) for pid, row in grid_persons.items()},
            "LH-WG-002": None,
        },
        ["LH-100001-SJ2,司马建国,13900130099,,社区书记（新任）,,LH-100-BC"],
    )
    assert (await reload(api, expect=200))["last_reload"]["outcome"] == "loaded"

    # 陈丽娟 answers the warning she was told of, from the number the new roster no
    # longer has.
    closed = await replies(jiaoying).text_from(phone("13800130002"), "收到")
    assert [item.warning_id for item in closed] == [warning_id]

    async def escalated() -> list[Any]:
        return await jiaoying.rows(
            "select r.person_id, e.target_id from escalations e"
            " join recipients r on r.id = e.recipient_id"
            " where e.warning_id = :w and e.level = 1"
            " and r.person_id in ('LH-WG-001', 'LH-WG-003')",
            w=warning_id,
        )

    targets = await eventually(escalated, within=8)
    assert {target for _, target in targets} == {"LH-100001-SJ"}

    def called() -> set[str]:
        return {notice.address for notice in jiaoying.sent("voice", "escalation")}

    await eventually(lambda: phone(old_secretary[2]) in called())
    assert phone("13900130099") not in called()

    answered = await api.get(f"/v1/warnings/{warning_id}/recipients?state=answered")
    assert "LH-WG-002" in {r["person_id"] for r in answered["recipients"]}
    stored = await jiaoying.rows("select roster_id from warnings where id = :w", w=warning_id)
    assert stored[0].roster_id != (await roster(api))["in_force"]["digest"]


@pytest.mark.parametrize(
    "extra_settings",
    [
        {
            "JIAOYING_TWILIO_ACCOUNT_SID": DEFAULT_SID,
            "JIAOYING_TWILIO_AUTH_TOKEN": DEFAULT_TOKEN,
            "JIAOYING_TWILIO_FROM": "+12025550100",
        }
    ],
)
async def test_with_a_real_provider_a_reload_never_takes_the_example_roster(
    jiaoying: Jiaoying,
) -> None:
    # JIAOYING_ROSTER_DIR unset: the example roster, which only a service started in
    # simulate mode may run on (this harness builds the app without `serve`'s check).
    api = Api(jiaoying)
    before = (await roster(api))["in_force"]
    refused = await reload(api, expect=422)
    (problem,) = refused["problems"]
    assert problem.startswith(f"{env_name('roster_dir')} is unset")
    assert "Twilio is configured" in problem
    assert f"Set {env_name('roster_dir')}" in problem
    assert refused["roster"]["in_force"] == before


async def test_reloading_needs_a_token(jiaoying: Jiaoying) -> None:
    for method, path in (("GET", "/v1/roster"), ("POST", "/v1/roster/reload")):
        response = await jiaoying.client.request(method, path)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="jiaoying"'
    assert (await roster(Api(jiaoying)))["last_reload"] is None, "nothing was reloaded"
