"""The status API as the duty officer uses it, against the running service.

Every response body is checked for full phone numbers of the roster (`Api`): the API
shows them masked or not at all. Fast test policy (tests/data/fast-policy.yaml): voice
again at 1.5 s, supervisor at 3 s, the next supervisor with a door-knock task at 4.5 s.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp
from dispatcher.core.roster import Person, Roster
from dispatcher.engine.replies import Replies
from dispatcher.http.keys import REPLIES
from tests.engine.conftest import EXAMPLES, TOKEN, Jiaoying, app_of, eventually
from tests.pg import each_store

RED = "red-rainstorm.xml"
SILENT_STATES = {"pending", "notified", "delivered", "unreachable"}
__all__ = ["each_store"]  # the `db_url` fixture: this module runs on SQLite and PostgreSQL


def full_numbers(roster: Roster) -> set[str]:
    """Every roster phone number as E.164 and as dialled at home (13800130001)."""
    phones = {p.phone for p in roster.persons.values() if p.phone}
    return phones | {phone.removeprefix("+86") for phone in phones}


class Api:
    """The test client with the ops token; every body it reads is checked for full numbers."""

    def __init__(self, jiaoying: Jiaoying) -> None:
        self.jiaoying = jiaoying
        self.numbers = full_numbers(jiaoying.roster)

    async def get(self, path: str, *, expect: int = 200) -> Any:
        response = await self.jiaoying.client.get(path, headers=_auth())
        return await self._read(response, expect)

    async def post(self, path: str, body: object, *, expect: int) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body)
        response = await self.jiaoying.client.post(
            path, data=data, headers={**_auth(), "Content-Type": "application/json"}
        )
        return await self._read(response, expect)

    async def _read(self, response: Any, expect: int) -> Any:
        text = await response.text()
        assert response.status == expect, text
        shown = {number for number in self.numbers if number in text}
        assert not shown, f"full phone numbers in {response.url.path}: {shown}"
        assert TOKEN not in text, "the token itself is never shown"
        return json.loads(text)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def planned_persons(roster: Roster) -> dict[str, Person]:
    warning = parse_cap((EXAMPLES / "warnings" / RED).read_bytes())
    return {target.person.id: target.person for target in resolve(warning.areas, roster).recipients}


def replies(jiaoying: Jiaoying) -> Replies:
    return app_of(jiaoying.client)[REPLIES]


async def all_told(api: Api, warning_id: str) -> bool:
    summary = await api.get(f"/v1/warnings/{warning_id}")
    return bool(summary["recipients"]) and summary["states"]["pending"] == 0


def stored_time(value: str | datetime) -> datetime:
    """A datetime column as raw SQL reads it: text without offset from SQLite, a datetime
    from PostgreSQL; UTC either way."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def test_every_status_route_needs_a_token(jiaoying: Jiaoying) -> None:
    routes = [
        ("GET", "/v1/warnings"),
        ("GET", "/v1/warnings/w000000000000"),
        ("GET", "/v1/warnings/w000000000000/recipients"),
        ("POST", "/v1/warnings/w000000000000/answers"),
        ("GET", "/v1/warnings/w000000000000/ledger.csv"),
        ("GET", "/v1/grids/441523100001001/status"),
        ("GET", "/v1/tasks"),
        ("POST", "/v1/tasks/1/report"),
        ("GET", "/v1/dead-letters"),
        ("GET", "/v1/openapi.json"),
    ]
    for headers in ({}, {"Authorization": "Bearer ops"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in routes:
            response = await jiaoying.client.request(method, path, headers=headers)
            assert response.status == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "error" in await response.json()


async def test_the_overview_adds_up_to_what_the_store_holds(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    persons = planned_persons(jiaoying.roster)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))

    answering = sorted(pid for pid, p in persons.items() if p.phone)[:5]
    for person_id in answering:
        phone = persons[person_id].phone
        assert phone is not None
        await replies(jiaoying).text_from(phone, "收到")
        await asyncio.sleep(0.05)  # apart, so that the percentiles have a spread
    summary = await api.get(f"/v1/warnings/{warning_id}")

    assert summary["recipients"] == len(persons)
    assert sum(summary["states"].values()) == summary["recipients"]
    assert set(summary["states"]) == {
        "pending",
        "notified",
        "delivered",
        "answered",
        "unreachable",
        "cancelled",
        "expired",
    }
    assert summary["answered"] == summary["states"]["answered"] == len(answering)
    assert summary["answer_rate"] == round(len(answering) / len(persons), 4)
    assert summary["status"] == "active"
    assert summary["level"] == "red"
    assert summary["drill"] is False
    assert [m["msg_type"] for m in summary["messages"]] == ["Alert"]

    (clock_start,) = await jiaoying.rows("select clock_start from warnings")
    answered_at = await jiaoying.rows(
        "select answered_at from recipients where state = 'answered' order by answered_at"
    )
    start = stored_time(clock_start[0])
    seconds = sorted((stored_time(row[0]) - start).total_seconds() for row in answered_at)
    taken = summary["time_to_answer"]
    assert taken["answered"] == len(answering)
    assert taken["p50"] == round(seconds[math.ceil(0.5 * len(seconds)) - 1], 3)
    assert taken["p90"] == round(seconds[math.ceil(0.9 * len(seconds)) - 1], 3)
    assert taken["max"] == round(seconds[-1], 3)
    assert 0 <= taken["p50"] <= taken["p90"] <= taken["max"]

    page = await api.get(f"/v1/warnings/{warning_id}/recipients?state=silent&limit=500")
    silent = {r["person_id"]: r for r in page["recipients"]}
    assert set(silent) == set(persons) - set(answering), "the 未叫醒名单 names exactly the silent"
    for person_id, recipient in silent.items():
        assert recipient["name"] == persons[person_id].name
        assert recipient["state"] in SILENT_STATES
        assert recipient["answer"] is None
        assert recipient["attempts"], "each was called"
        assert all("address" not in attempt for attempt in recipient["attempts"])
    answered = await api.get(f"/v1/warnings/{warning_id}/recipients?state=answered")
    assert {r["person_id"] for r in answered["recipients"]} == set(answering)
    for recipient in answered["recipients"]:
        assert recipient["answer"]["via"] == "sms"
        assert recipient["answer"]["by"] == recipient["person_id"]
        assert recipient["answer"]["detail"] == "收到"
        assert recipient["phone"].count("*") == 4


async def test_the_list_filters_and_pages_newest_first(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    red = (await jiaoying.post(RED))["id"]
    drill = (await jiaoying.post("drill-flash-flood.xml"))["id"]
    blue = (await jiaoying.post("blue-gale.json"))["id"]
    newest_first = [
        row.id for row in await jiaoying.rows("select id from warnings order by received_at desc")
    ]
    assert set(newest_first) == {red, drill, blue}

    first = await api.get("/v1/warnings?limit=2")
    assert len(first["warnings"]) == 2
    assert first["next"]
    rest = await api.get(f"/v1/warnings?limit=2&cursor={first['next']}")
    assert rest["next"] is None
    listed = [w["id"] for w in first["warnings"] + rest["warnings"]]
    assert listed == newest_first

    async def ids(query: str) -> set[str]:
        return {w["id"] for w in (await api.get(f"/v1/warnings?{query}"))["warnings"]}

    assert await ids("level=red") == {red}
    assert await ids("level=blue") == {blue}
    assert await ids("drill=true") == {drill}
    assert await ids("drill=false") == {red, blue}
    assert await ids("active=true") == {red, drill, blue}
    red_identifier = parse_cap((EXAMPLES / "warnings" / RED).read_bytes()).identifier
    assert await ids(f"identifier={red_identifier}") == {red}

    cancel = await jiaoying.post("red-rainstorm-cancel.xml")
    assert cancel["id"] == red
    cancel_identifier = parse_cap(
        (EXAMPLES / "warnings/red-rainstorm-cancel.xml").read_bytes()
    ).identifier
    assert await ids(f"identifier={cancel_identifier}") == {red}, "any message of the chain"
    assert await ids("active=true") == {drill, blue}
    assert await ids("active=false") == {red}
    (item,) = (await api.get("/v1/warnings?active=false"))["warnings"]
    assert item["status"] == "cancelled"
    recipients = await jiaoying.rows("select count(*) from recipients where warning_id = :w", w=red)
    assert item["recipients"] == recipients[0][0]

    recipients_cursor = (await api.get(f"/v1/warnings/{red}/recipients?limit=1"))["next"]
    for query in (
        "limit=0",
        "limit=501",
        "limit=ten",
        "level=purple",
        "active=maybe",
        "cursor=not-a-cursor",
        f"cursor={recipients_cursor}",
    ):
        problem = await api.get(f"/v1/warnings?{query}", expect=400)
        assert problem["parameter"] == query.split("=")[0]


async def test_recipients_page_and_filter_by_grid(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    persons = planned_persons(jiaoying.roster)
    warning_id = (await jiaoying.post(RED))["id"]

    seen: list[str] = []
    path = f"/v1/warnings/{warning_id}/recipients?limit=5"
    while path:
        page = await api.get(path)
        assert len(page["recipients"]) <= 5
        seen += [r["person_id"] for r in page["recipients"]]
        path = f"/v1/warnings/{warning_id}/recipients?limit=5&cursor={page['next']}"
        path = path if page["next"] else ""
    assert sorted(seen) == sorted(persons), "each recipient once, none missing"

    township = "441523101"  # 水唇镇
    page = await api.get(f"/v1/warnings/{warning_id}/recipients?grid={township}")
    expected = {
        pid for pid, p in persons.items() if any(c.startswith(township) for c in p.grid_codes)
    }
    assert expected
    assert {r["person_id"] for r in page["recipients"]} == expected
    for recipient in page["recipients"]:
        for grid in recipient["grids"]:
            assert grid["name"] == jiaoying.roster.grids[grid["code"]].name

    both = await api.get(f"/v1/warnings/{warning_id}/recipients?state=answered,notified,pending")
    assert len(both["recipients"]) == len(persons)
    await api.get(f"/v1/warnings/{warning_id}/recipients?state=asleep", expect=400)
    await api.get("/v1/warnings/w000000000000/recipients", expect=404)
    await api.get("/v1/warnings/w000000000000", expect=404)


async def test_an_operator_answer_is_recorded_once_with_the_token_name(
    jiaoying: Jiaoying,
) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    entry = {"person_id": "LH-WG-003", "how": "phone", "note": "座机来电，已组织转移"}
    path = f"/v1/warnings/{warning_id}/answers"

    first = await api.post(path, entry, expect=201)
    assert first["recorded"] is True
    assert first["state"] == "answered"
    assert first["closed"] == ["LH-WG-003"]
    assert first["name"] == "张国平"
    answer = first["answer"]
    assert (answer["via"], answer["by"], answer["how"]) == ("operator", "ops", "phone")
    assert answer["detail"] == entry["note"]

    again = await api.post(path, entry, expect=200)
    assert again["recorded"] is False
    assert again["answer"] == answer, "the answer as first recorded"
    stored = await jiaoying.rows(
        "select a.via, a.by, a.how from answers a join recipients r on r.id = a.recipient_id"
        " where r.person_id = 'LH-WG-003'"
    )
    assert [tuple(row) for row in stored] == [("operator", "ops", "phone")], "one row, not two"

    page = await api.get(f"/v1/warnings/{warning_id}/recipients?state=answered")
    (shown,) = page["recipients"]
    assert shown["person_id"] == "LH-WG-003"
    assert shown["answer"] == answer

    await api.post("/v1/warnings/w000000000000/answers", entry, expect=404)
    await api.post(path, {"person_id": "LH-NOBODY", "how": "radio"}, expect=404)
    for body, field in (
        (b"{not json", "body"),
        ([1, 2], "body"),
        ({"how": "phone"}, "person_id"),
        ({"person_id": "LH-WG-004", "how": "telepathy"}, "how"),
        ({"person_id": 4, "how": "phone"}, "person_id"),
        ({"person_id": "LH-WG-004", "how": "phone", "by": "someone else"}, "by"),
    ):
        problem = await api.post(path, body, expect=422)
        assert problem["parameter"] == field, problem
    states = await jiaoying.rows("select state from recipients where person_id = 'LH-WG-004'")
    assert states[0][0] != "answered", "a refused entry records nothing"


async def test_a_door_knock_report_closes_its_task_and_its_persons(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    persons = planned_persons(jiaoying.roster)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))

    async def open_tasks() -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = (await api.get("/v1/tasks?status=open"))["tasks"]
        covered = {p["person_id"] for task in tasks for p in task["silent_persons"]}
        return tasks if covered == set(persons) else []

    tasks = await eventually(open_tasks, within=9)
    task = next(t for t in tasks if len(t["silent_persons"]) > 1)
    knocked = sorted(p["person_id"] for p in task["silent_persons"])
    report = {"households_reached": 12, "people_moved": 3, "note": "已逐户敲门，群众已转移"}

    done = await api.post(f"/v1/tasks/{task['id']}/report", report, expect=200)
    assert done["already_reported"] is False
    assert done["closed"] == len(knocked)
    assert done["closed_persons"] == knocked
    assert done["task"]["status"] == "done"
    assert done["task"]["report"] == {**report, "reported_by": "ops"}
    assert done["task"]["silent_persons"] == []

    answered = await api.get(f"/v1/warnings/{warning_id}/recipients?state=answered")
    assert sorted(r["person_id"] for r in answered["recipients"]) == knocked
    for recipient in answered["recipients"]:
        assert (recipient["answer"]["via"], recipient["answer"]["by"]) == ("door_knock", "ops")

    again = await api.post(
        f"/v1/tasks/{task['id']}/report", {**report, "households_reached": 99}, expect=200
    )
    assert again["already_reported"] is True
    assert again["closed"] == 0
    assert again["task"]["report"]["households_reached"] == 12, "the first report stands"

    listed = (await api.get("/v1/tasks"))["tasks"]
    statuses = [t["status"] for t in listed]
    assert statuses == sorted(statuses, key=lambda s: s != "open"), "open ones first"
    assert statuses.count("done") == 1
    assert {t["id"] for t in (await api.get("/v1/tasks?status=done"))["tasks"]} == {task["id"]}
    assert (await api.get(f"/v1/tasks?warning={warning_id}"))["tasks"] == listed
    assert (await api.get("/v1/tasks?warning=w000000000000"))["tasks"] == []
    paged = await api.get("/v1/tasks?limit=1")
    following = await api.get(f"/v1/tasks?limit=50&cursor={paged['next']}")
    assert [t["id"] for t in paged["tasks"] + following["tasks"]] == [t["id"] for t in listed]

    summary = await api.get(f"/v1/warnings/{warning_id}")
    assert summary["tasks"]["done"] == 1
    assert summary["tasks"]["open"] == len(listed) - 1
    (shown,) = summary["tasks"]["reports"]
    assert shown["task_id"] == task["id"]
    assert shown["report"]["households_reached"] == 12
    assert summary["escalations_by_level"]["1"] >= 1

    await api.post("/v1/tasks/999999/report", report, expect=404)
    await api.post("/v1/tasks/not-a-number/report", report, expect=404)
    for body in ({"households_reached": -1}, {"households_reached": "12"}, {}, b"[]"):
        await api.post(f"/v1/tasks/{task['id']}/report", body, expect=422)


async def test_a_grid_shows_its_persons_across_active_warnings(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    phone = jiaoying.roster.persons["LH-WG-001"].phone
    assert phone is not None
    await replies(jiaoying).text_from(phone, "确认")

    status = await api.get("/v1/grids/441523100001001/status")
    assert status["grid"]["name"] == "人民社区第一网格"
    assert status["grid"]["in_roster"] is True
    ((warning),) = status["warnings"]
    assert warning["id"] == warning_id
    assert sum(warning["states"].values()) == 2
    assert warning["states"]["answered"] == 1
    persons = {p["person_id"]: p for p in status["persons"]}
    assert set(persons) == {"LH-WG-001", "LH-WG-002"}
    assert [w["state"] for w in persons["LH-WG-001"]["warnings"]] == ["answered"]
    assert [w["state"] for w in persons["LH-WG-002"]["warnings"]] == ["notified"]
    assert persons["LH-WG-002"]["name"] == "陈丽娟"

    quiet = await api.get("/v1/grids/441523103201001/status")  # 东坑村: outside the warning
    assert quiet["warnings"] == []
    assert {p["person_id"] for p in quiet["persons"]} == {"LH-WG-026", "LH-WG-027"}
    assert all(p["warnings"] == [] for p in quiet["persons"])
    await api.get("/v1/grids/999999999/status", expect=404)

    await jiaoying.post("red-rainstorm-cancel.xml")
    ended = await api.get("/v1/grids/441523100001001/status")
    assert ended["warnings"] == [], "a cancelled warning is not active"
    assert all(p["warnings"] == [] for p in ended["persons"])


async def test_refused_inputs_are_listed_with_their_reasons(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post(RED))["id"]
    headers = {**_auth(), "Content-Type": "application/cap+xml"}
    broken = await jiaoying.client.post("/v1/warnings", data=b"<alert>unclosed", headers=headers)
    assert broken.status == 400
    # The red warning again, a minute later, for an area nobody answers for: refused, and
    # related to the red warning by its sender and identifier.
    data = warning_to_data(
        parse_warning((EXAMPLES / "warnings" / RED).read_bytes(), "application/cap+xml")
    )
    data = restamp(data, jiaoying.shift + timedelta(minutes=1))
    for info in data["infos"]:
        for area in info["areas"]:
            area.update(geocodes=["999999"], polygons=[], circles=[])
    nowhere = await jiaoying.client.post(
        "/v1/warnings",
        data=json.dumps(data),
        headers={**_auth(), "Content-Type": "application/json"},
    )
    assert nowhere.status == 422
    related_id = (await nowhere.json())["dead_letter_id"]

    listed = (await api.get("/v1/dead-letters"))["dead_letters"]
    assert [d["id"] for d in listed] == [related_id, related_id - 1], "newest first"
    newest, oldest = listed
    assert "area" in newest["reason"]
    assert newest["path"] == "alert/info/area"
    assert newest["identifier"] == data["identifier"]
    assert newest["excerpt"].startswith("{") and len(newest["excerpt"]) == 200
    assert oldest["excerpt"] == "<alert>unclosed"
    assert oldest["size"] == len(b"<alert>unclosed")
    assert oldest["sender"] is None

    page = await api.get("/v1/dead-letters?limit=1")
    assert [d["id"] for d in page["dead_letters"]] == [related_id]
    rest = await api.get(f"/v1/dead-letters?limit=1&cursor={page['next']}")
    assert [d["id"] for d in rest["dead_letters"]] == [related_id - 1]
    assert rest["next"] is None
    about = await api.get(f"/v1/dead-letters?warning={warning_id}")
    assert [d["id"] for d in about["dead_letters"]] == [related_id]
    assert (await api.get("/v1/dead-letters?source=amqp"))["dead_letters"] == []

    summary = await api.get(f"/v1/warnings/{warning_id}")
    assert summary["dead_letters"]["count"] == 1
    assert [d["id"] for d in summary["dead_letters"]["latest"]] == [related_id]


@pytest.mark.parametrize("bad", ["limit=-1", "source=ftp", "cursor=e30"])
async def test_bad_dead_letter_queries_are_refused(jiaoying: Jiaoying, bad: str) -> None:
    problem = await Api(jiaoying).get(f"/v1/dead-letters?{bad}", expect=400)
    assert problem["parameter"] == bad.split("=")[0]
