"""A door-knock report is an answer like the others: the Prometheus metrics, the
`answered.*` events and the warning's time-to-answer figures all see the persons it
answered for, as they see an SMS reply.

Fast test policy (tests/data/fast-policy.yaml): the door-knock tasks open at 4.5 s.
"""

from __future__ import annotations

import json
from typing import Any

from tests.engine.conftest import Jiaoying, eventually
from tests.engine.test_metrics import scrape
from tests.engine.test_status_api import RED, Api, all_told, planned_persons, replies
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: this module runs on SQLite and PostgreSQL

DOOR_KNOCK_STEP = 4.5  # seconds after `sent` (fast-policy.yaml)


async def answered_events(jiaoying: Jiaoying) -> list[dict[str, Any]]:
    rows = await jiaoying.rows(
        "select routing_key, body from outbox where routing_key like 'answered.%' order by id"
    )
    events = []
    for routing_key, body in rows:
        event = json.loads(body) if isinstance(body, str) else body
        events.append({"routing_key": routing_key, **event})
    return events


async def test_a_door_knock_report_counts_in_metrics_events_and_time_to_answer(
    jiaoying: Jiaoying,
) -> None:
    api = Api(jiaoying)
    persons = planned_persons(jiaoying.roster)
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    by_sms = "LH-WG-001"
    phone = persons[by_sms].phone
    assert phone is not None
    await replies(jiaoying).text_from(phone, "收到")

    async def open_task() -> dict[str, Any] | None:
        tasks = (await api.get(f"/v1/tasks?warning={warning_id}&status=open"))["tasks"]
        return next((t for t in tasks if len(t["silent_persons"]) > 1), None)

    task = await eventually(open_task, within=9)
    knocked = sorted(p["person_id"] for p in task["silent_persons"])
    assert by_sms not in knocked
    before = await scrape(jiaoying)

    done = await api.post(
        f"/v1/tasks/{task['id']}/report",
        {"households_reached": 37, "people_moved": 5, "note": "逐户敲门，老人已转移至村委会"},
        expect=200,
    )
    assert done["closed_persons"] == knocked

    after = await scrape(jiaoying)

    def gained(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert gained("jiaoying_answers_total", via="door_knock") == len(knocked)
    assert gained("jiaoying_answers_total", via="sms") == 0
    assert gained("jiaoying_time_to_answer_seconds_count", level="red") == len(knocked)
    # Each was answered after the door-knock step opened the task: timed from `sent`.
    assert gained("jiaoying_time_to_answer_seconds_sum", level="red") >= DOOR_KNOCK_STEP * len(
        knocked
    )

    events = await answered_events(jiaoying)
    knock_events = [e for e in events if e["via"] == "door_knock"]
    assert {e["routing_key"] for e in knock_events} == {"answered.red"}
    assert all(e["warning_id"] == warning_id and e["by"] == "ops" for e in knock_events)
    recipient_ids = {
        row.id: row.person_id
        for row in await jiaoying.rows(
            "select id, person_id from recipients where warning_id = :w", w=warning_id
        )
    }
    assert sorted(recipient_ids[e["recipient_id"]] for e in knock_events) == knocked
    assert [recipient_ids[e["recipient_id"]] for e in events if e["via"] == "sms"] == [by_sms]

    summary = await api.get(f"/v1/warnings/{warning_id}")
    figures = summary["time_to_answer"]
    assert summary["answered"] == figures["answered"] == 1 + len(knocked)
    assert figures["max"] >= DOOR_KNOCK_STEP

    # Reported again: nothing counted twice.
    again = await api.post(f"/v1/tasks/{task['id']}/report", {"households_reached": 40}, expect=200)
    assert again["already_reported"] is True
    answers = ("jiaoying_answers_total", "jiaoying_time_to_answer_seconds_count")
    assert {k: v for k, v in (await scrape(jiaoying)).items() if k[0] in answers} == {
        k: v for k, v in after.items() if k[0] in answers
    }
    assert len(await answered_events(jiaoying)) == len(events)
