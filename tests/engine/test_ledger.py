"""The 叫应台账 (ledger.csv) after a full cycle: a red warning, answers of every kind, a
note, a supervisor's answer, a door-knock report and the Cancel, all in time order.

Fast test policy: supervisor at 3 s, the next supervisor with a door-knock task at 4.5 s.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any

from dispatcher.http.ledger_csv import HEADER
from tests.engine.conftest import PUBLIC_URL, TOKEN, Jiaoying, eventually
from tests.engine.test_status_api import Api, all_told, full_numbers, replies
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: this module runs on SQLite and PostgreSQL

AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOM = b"\xef\xbb\xbf"


def phone(jiaoying: Jiaoying, person_id: str) -> str:
    number = jiaoying.roster.persons[person_id].phone
    assert number is not None
    return number


async def test_the_ledger_tells_the_whole_cycle_in_time_order(jiaoying: Jiaoying) -> None:
    api = Api(jiaoying)
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    await eventually(lambda: all_told(api, warning_id))
    await eventually(lambda: len(jiaoying.sent("sms", "alert")) >= 17)

    # By SMS, by key 1 in the call, by the signed link, by the operator, and a note.
    await replies(jiaoying).text_from(phone(jiaoying, "LH-WG-001"), "收到")
    # The first call; under load the policy's re-call may already have made a second.
    (call,) = await jiaoying.rows(
        "select key from attempts where person_id = 'LH-WG-004' and channel = 'voice'"
        " order by id limit 1"
    )
    await replies(jiaoying).answer_send(call.key, via="voice", detail="key 1")
    link = next(
        n.answer_url
        for n in jiaoying.sent("sms", "alert")
        if n.address == phone(jiaoying, "LH-WG-005")
    )
    assert link is not None
    pressed = await jiaoying.client.post(link.removeprefix(PUBLIC_URL))
    assert pressed.status == 200
    await api.post(
        f"/v1/warnings/{warning_id}/answers",
        {"person_id": "LH-WG-006", "how": "radio"},
        expect=201,
    )
    note = "=已转移群众20人，联系13800130011"
    await replies(jiaoying).text_from(phone(jiaoying, "LH-WG-011"), note)

    # 刘玉兰 is called at 3 s about her silent grid persons (LH-WG-011 …) and answers for them.
    secretary = phone(jiaoying, "LH-101201-SJ")
    await eventually(
        lambda: any(n.address == secretary for n in jiaoying.sent("voice", "escalation")), 6
    )
    closed = await replies(jiaoying).text_from(secretary, "1")
    assert sum(len(c.recipient_ids) for c in closed) >= 1

    tasks = await eventually(lambda: _open_tasks(api), 8)
    await api.post(f"/v1/tasks/{tasks[0]['id']}/report", {"households_reached": 7}, expect=200)
    await jiaoying.post("red-rainstorm-cancel.xml")
    await eventually(lambda: jiaoying.sent("sms", "cancel"))
    await eventually(lambda: _settled(jiaoying))

    response = await jiaoying.client.get(f"/v1/warnings/{warning_id}/ledger.csv", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="jiaoying-ledger-{warning_id}.csv"' in disposition
    raw = await response.read()
    assert raw.startswith(BOM), "Excel needs the byte-order mark to read the Chinese"
    text = raw.decode("utf-8-sig")
    assert not {n for n in full_numbers(jiaoying.roster) if n in text}, "numbers are masked"
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == HEADER

    times = [datetime.fromisoformat(row[0]) for row in rows]
    seconds = [time.replace(microsecond=0) for time in times]
    assert seconds == sorted(seconds), "rows are in time order"
    exact = [time for row, time in zip(rows, times, strict=True) if "." in row[0]]
    assert exact == sorted(exact), "to the millisecond where the store knows it"
    events = Counter(row[1].split(" ")[0] for row in rows)
    for event in ("收到消息", "处置", "发送", "回执", "升级", "入户任务", "入户报告", "应答"):
        assert events[event], f"no {event} row"
    first_notice = next(row for row in rows if row[1].startswith("发送") and "LH-WG-011" in row[2])
    messages = [row[1] for row in rows if row[1].startswith("收到消息")]
    assert messages == ["收到消息 message Alert", "收到消息 message Cancel"]
    assert any(row[1] == "处置 cancel" for row in rows)

    attempts = await jiaoying.rows(
        "select count(*) from attempts where warning_id = :w", w=warning_id
    )
    assert events["发送"] == attempts[0][0], "one row per send"
    answers = await jiaoying.rows("select via from answers where warning_id = :w", w=warning_id)
    answer_rows = [row for row in rows if row[1] == "应答 answer"]
    assert len(answer_rows) == len(answers)
    channels = {row[3].split(" ")[-1] for row in answer_rows}
    assert channels == {"sms", "voice", "link", "operator", "supervisor", "door_knock"}
    (by_operator,) = [row for row in answer_rows if row[3].endswith("operator")]
    assert by_operator[2] == "李振东 LH-WG-006"
    assert by_operator[6] == "ops", "the token's name, never the token"
    assert TOKEN not in text

    (reply,) = [row for row in rows if row[1].startswith("短信回复")]
    assert rows.index(reply) > rows.index(first_notice), "after the notice it replies to"
    assert reply[2] == "黄立新 LH-WG-011"
    assert reply[7].startswith("'="), "a cell never starts a formula"
    assert "138****0011" in reply[7]
    (report,) = [row for row in rows if row[1].startswith("入户报告")]
    assert report[6] == "ops"
    assert "households_reached=7" in report[7]

    missing = await jiaoying.client.get("/v1/warnings/w000000000000/ledger.csv", headers=AUTH)
    assert missing.status == 404
    refused = await jiaoying.client.get(f"/v1/warnings/{warning_id}/ledger.csv")
    assert refused.status == 401


async def _open_tasks(api: Api) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = (await api.get("/v1/tasks?status=open"))["tasks"]
    return [task for task in tasks if task["silent_persons"]]


async def _settled(jiaoying: Jiaoying) -> bool:
    """No send is still waiting for its result (each has its outcome row)."""
    return not await jiaoying.rows("select id from attempts where status = 'claimed'")
