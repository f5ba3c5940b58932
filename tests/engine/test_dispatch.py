"""A red warning end to end through HTTP ingest, the store and the scheduler.

Fast test policy (tests/data/fast-policy.yaml): everyone at once, voice again at 1.5 s,
supervisor at 3 s, the next supervisor with a door-knock task at 4.5 s.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from dispatcher.core.area import resolve
from dispatcher.core.cap import parse_cap
from dispatcher.core.roster import Person
from dispatcher.store.answers import record_answer, report_task
from tests.engine.conftest import EXAMPLES, Jiaoying, eventually
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: every case runs on SQLite and PostgreSQL

RED = "red-rainstorm.xml"


def expected_persons(jiaoying: Jiaoying) -> dict[str, Person]:
    warning = parse_cap((EXAMPLES / "warnings" / RED).read_bytes())
    resolution = resolve(warning.areas, jiaoying.roster)
    return {target.person.id: target.person for target in resolution.recipients}


async def test_everyone_is_called_at_once_on_every_channel_they_have(jiaoying: Jiaoying) -> None:
    persons = expected_persons(jiaoying)
    body = await jiaoying.post(RED)
    assert body["recipients_added"] == len(persons)

    phones = {p.phone for p in persons.values() if p.phone}
    openids = {p.wechat_openid for p in persons.values() if p.wechat_openid}
    await eventually(lambda: {n.address for n in jiaoying.sent("voice")} >= phones)
    await eventually(lambda: {n.address for n in jiaoying.sent("sms")} >= phones)
    await eventually(lambda: {n.address for n in jiaoying.sent("wechat")} >= openids)
    sms = jiaoying.sent("sms", "alert")
    assert len(sms) == len({n.address for n in sms}), "nobody gets the same SMS twice"
    assert all("暴雨" in n.text and "回复1" in n.text for n in sms)
    zones = {
        z.zone_id
        for z in jiaoying.roster.zones_of_grids([c for p in persons.values() for c in p.grid_codes])
    }
    await eventually(lambda: {n.address for n in jiaoying.sent("broadcast")} == zones)
    assert len(jiaoying.sent("broadcast")) == len(zones), "one play per zone, not per person"


async def test_a_duplicate_is_dispatched_once(jiaoying: Jiaoying) -> None:
    first = await jiaoying.post(RED)
    second = await jiaoying.post(RED, expect=200)
    assert second == {**first, "outcome": "duplicate", "recipients_added": 0}
    await eventually(lambda: jiaoying.sent("sms"))
    assert len(await jiaoying.rows("select id from warnings")) == 1


async def test_silent_persons_are_recalled_escalated_and_door_knocked(jiaoying: Jiaoying) -> None:
    persons = expected_persons(jiaoying)
    body = await jiaoying.post(RED)
    warning_id = body["id"]
    await eventually(lambda: len(jiaoying.sent("voice", "alert")) >= len(persons) - 1)
    answering = sorted(persons)[:6]
    async with jiaoying.db.writer.begin() as conn:
        for person_id in answering:
            await record_answer(
                conn,
                warning_id=warning_id,
                person_id=person_id,
                via="sms",
                by=person_id,
                at=datetime.now(UTC),
            )
    silent = set(persons) - set(answering)
    phone_of = {pid: p.phone for pid, p in persons.items()}

    await eventually(
        lambda: sum(1 for n in jiaoying.sent("voice", "alert")) >= 2 * len(silent), within=15
    )
    calls = [n.address for n in jiaoying.sent("voice", "alert")]
    for person_id in answering:
        assert calls.count(phone_of[person_id]) == 1, "an answered person is not called again"
    for person_id in silent:
        if phone_of[person_id]:
            assert calls.count(phone_of[person_id]) == 2, "a silent person is called again"

    escalations = await eventually(
        lambda: jiaoying.sent("voice", "escalation") or jiaoying.sent("sms", "escalation"), 15
    )
    assert escalations
    supervisors = {
        row.target_id
        for row in await jiaoying.rows(
            "select target_id from escalations where warning_id = :w and level = 1", w=warning_id
        )
    }
    expected_supervisors = {
        jiaoying.roster.supervisor_chain(pid)[0].id
        for pid in silent
        if jiaoying.roster.supervisor_chain(pid)
    }
    assert supervisors == expected_supervisors
    summons = await jiaoying.rows(
        "select person_id, count(*) from summons where warning_id = :w and kind = 'escalation'"
        " and occasion = 'c0s3' group by person_id",
        w=warning_id,
    )
    assert all(count == 1 for _, count in summons), "one call per supervisor per step"

    tasks = await eventually(
        lambda: jiaoying.rows("select id, assignee_id, grid_codes, status from tasks"), 15
    )
    covered = {code for task in tasks for code in _codes(task.grid_codes)}
    assert covered == {code for pid in silent for code in persons[pid].grid_codes}
    assert {task.status for task in tasks} == {"open"}
    await eventually(lambda: jiaoying.sent("sms", "door_knock"), 15)

    async with jiaoying.db.writer.begin() as conn:
        reported = await report_task(
            conn, tasks[0].id, {"households": 12}, by="ops", at=datetime.now(UTC)
        )
    assert reported is not None and reported.first
    assert reported.closed.recipient_ids


async def test_cancel_stops_escalation_and_tells_those_already_told(jiaoying: Jiaoying) -> None:
    persons = expected_persons(jiaoying)
    body = await jiaoying.post(RED)
    await eventually(lambda: len({n.address for n in jiaoying.sent("sms", "alert")}) >= 10)
    followed = await jiaoying.post("red-rainstorm-cancel.xml")
    assert followed["id"] == body["id"]
    await eventually(lambda: len(jiaoying.sent("sms", "cancel")) >= 10)
    told = {n.address for n in jiaoying.sent("sms", "alert")}
    assert {n.address for n in jiaoying.sent("sms", "cancel")} == told

    await eventually(lambda: _no_timer_left(jiaoying), within=4)
    before = len(jiaoying.sent("voice"))
    await asyncio.sleep(3.5)  # past the supervisor step of the fast policy
    assert not jiaoying.sent("voice", "escalation")
    assert not jiaoying.sent("sms", "escalation")
    assert len(jiaoying.sent("voice")) - before <= len(persons)  # cancel calls only
    states = {row.state for row in await jiaoying.rows("select state from recipients")}
    assert states == {"cancelled"}


async def _no_timer_left(jiaoying: Jiaoying) -> bool:
    return not await jiaoying.rows("select recipient_id from timers")


def _codes(stored: str | list[str]) -> list[str]:
    """A JSON column as raw SQL returns it: text on SQLite, decoded on PostgreSQL."""
    return json.loads(stored) if isinstance(stored, str) else stored
