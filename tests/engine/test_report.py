"""The evaluation report of a warning run through the real service: answers of every
kind, a wrong number, a supervisor's answer, door-knock tasks and a report; then what the
page, the CSV and the map say per grid.

Report policy (tests/data/report-policy.yaml): promise 8 s; supervisor at 2 s; the next
supervisor with a door-knock task at 9 s, after the promise (those grids miss it).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main
from dispatcher.core.content_type import parse_warning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp
from dispatcher.http.keys import ROSTERS
from dispatcher.report import write_warning_report
from dispatcher.report.table import HEADER
from dispatcher.store import migrate
from dispatcher.store.db import open_database
from dispatcher.store.drill_figures import list_drills
from tests.engine.conftest import (
    EXAMPLES,
    ROOT,
    TOKEN,
    Jiaoying,
    app_of,
    eventually,
)
from tests.engine.test_status_api import Api, all_told, full_numbers, replies
from tests.pg import each_store

__all__ = ["each_store"]  # the `db_url` fixture: this module runs on SQLite and PostgreSQL

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MET_BY_ANSWERS = "441523100001001"  # 人民社区第一网格: both grid persons answer by SMS
WRONG_NUMBER_GRID = "441523100001002"  # 人民社区第二网格: 张国平's number is wrong
BY_OPERATOR = "441523100201001"  # 新田村第一网格: the operator enters 曾永生's answer
SILENT = "441523101201001"  # 水唇村第一网格: nobody answers, door-knock after the promise


@pytest.fixture
def policy_file() -> Path:
    return ROOT / "tests/data/report-policy.yaml"


class Rows(HTMLParser):
    """Each table row of the page that carries a data- attribute: its attributes and the
    text of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str], list[str]]] = []
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "tr" and any(key.startswith("data-") for key in named):
            self.rows.append((named, []))
            self._cells = self.rows[-1][1]
        elif tag == "td" and self._cells is not None:
            self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data.strip()

    def of(self, attribute: str) -> dict[str, list[str]]:
        return {attrs[attribute]: cells for attrs, cells in self.rows if attribute in attrs}


def seconds_in(cell: str) -> float:
    """`1分15.5秒` → 75.5."""
    found = re.fullmatch(r"(?:(\d+)分)?([\d.]+)秒(?:（入户）)?", cell)
    assert found, cell
    return int(found.group(1) or 0) * 60 + float(found.group(2))


async def test_the_report_shows_per_grid_the_promise_against_what_happened(
    jiaoying: Jiaoying, tmp_path: Path
) -> None:
    api = Api(jiaoying)
    wrong = jiaoying.phone("LH-WG-003")
    jiaoying.channels["sms"].reject.add(wrong)
    jiaoying.channels["voice"].reject.add(wrong)
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    await replies(jiaoying).text_from(jiaoying.phone("LH-WG-001"), "收到")
    await replies(jiaoying).text_from(jiaoying.phone("LH-WG-002"), "1")
    await api.post(
        f"/v1/warnings/{warning_id}/answers", {"person_id": "LH-WG-004", "how": "radio"}, expect=201
    )
    await eventually(lambda: all_told(api, warning_id))

    secretary = jiaoying.phone("LH-100001-SJ")  # 刘桂芳, over 张国平 and his grid
    await eventually(
        lambda: any(n.address == secretary for n in jiaoying.sent("voice", "escalation")), 6
    )
    await replies(jiaoying).text_from(secretary, "收到")
    during = await api.get(f"/v1/warnings/{warning_id}/map")
    states = {grid["code"]: grid["state"] for grid in during["grids"]}
    assert states[MET_BY_ANSWERS] == "answered"
    assert states[SILENT] == "escalated", "called up the chain, no door-knock yet"

    async def door_knocks() -> list[dict[str, Any]]:
        """The tasks, once they cover every person still silent."""
        tasks: list[dict[str, Any]] = (await api.get(f"/v1/tasks?warning={warning_id}"))["tasks"]
        covered = {p["person_id"] for task in tasks for p in task["silent_persons"]}
        silent = await jiaoying.rows(
            "select person_id from recipients where warning_id = :w and answered_at is null",
            w=warning_id,
        )
        return tasks if covered and covered == {row.person_id for row in silent} else []

    tasks = await eventually(door_knocks, 14)
    reported = next(t for t in tasks if SILENT not in {g["code"] for g in t["grids"]})
    await api.post(
        f"/v1/tasks/{reported['id']}/report",
        {"households_reached": 12, "note": "已逐户敲门，联系13800130011<script>alert(1)</script>"},
        expect=200,
    )
    await eventually(lambda: _settled(jiaoying))

    response = await jiaoying.client.get(f"/v1/warnings/{warning_id}/report", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = await response.text()
    (tmp_path / "report.html").write_text(page, encoding="utf-8")  # for a person to look at
    assert not {n for n in full_numbers(jiaoying.roster) if n in page}, "numbers are masked"
    assert "演练" not in page, "a real warning is not called a drill"
    assert "cdn" not in page.lower(), "a page of its own"
    assert "<script" not in page, "a note typed in the field is text, never markup"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    rows = Rows()
    rows.feed(page)
    grids = rows.of("data-code")
    (warning,) = await jiaoying.rows("select grids from warnings where id = :w", w=warning_id)
    reached = json.loads(warning.grids) if isinstance(warning.grids, str) else warning.grids
    assert set(grids) == set(reached), "one row per grid reached"

    def verdict(code: str) -> str:
        return grids[code][-1]

    assert verdict(MET_BY_ANSWERS) == "达标"
    assert grids[MET_BY_ANSWERS][1:3] == ["2", "2"], "2 persons, 2 answered"
    assert seconds_in(grids[MET_BY_ANSWERS][4]) <= 8
    assert verdict(WRONG_NUMBER_GRID) == "达标", "the secretary answered in time"
    assert verdict(BY_OPERATOR) == "达标"
    assert verdict(SILENT) == "未达标"
    assert grids[SILENT][4].endswith("（入户）")
    assert seconds_in(grids[SILENT][4]) >= 8, "the door-knock task came after the promise"
    assert grids[SILENT][3] == "—", "nobody of it ever answered"
    assert int(grids[SILENT][5]) >= 2, "escalated twice"
    assert grids[SILENT][6] == "1", "one door-knock task covers it"

    unreached = {
        attrs["data-person"]: attrs["data-why"] for attrs, _ in rows.rows if "data-person" in attrs
    }
    assert unreached["LH-WG-003"] == "wrong_number"
    assert unreached["LH-WG-011"] == "no_answer"
    for answered in ("LH-WG-001", "LH-WG-002", "LH-WG-004", "LH-100001-SJ"):
        assert answered not in unreached
    assert rows.of("data-person")["LH-WG-003"][-1] == "上级代答"

    levels = rows.of("data-level")
    assert set(levels) == {"1", "2"}
    assert int(levels["1"][1]) >= len(unreached) - 1
    assert (levels["1"][3], levels["2"][3]) == ("2秒", "9秒"), "when the policy called for them"
    assert seconds_in(levels["1"][5]) < 60, "the scheduler escalated on time"
    task_rows = rows.of("data-task")
    assert len(task_rows) == len(tasks)
    done = task_rows[str(reported["id"])]
    assert done[3] == "9秒", "the policy's door-knock step"
    assert seconds_in(done[5]) == pytest.approx(seconds_in(done[4]) - 9, abs=0.11), "how late"
    assert done[6] == "已完成"
    assert "households_reached=12" in done[8]
    assert "138****0011" in done[8]

    channels = rows.of("data-channel")
    (sms_sends,) = await jiaoying.rows(
        "select count(*) from attempts where warning_id = :w and channel = 'sms'", w=warning_id
    )
    assert channels["sms"][1] == str(sms_sends[0])
    assert int(channels["sms"][4]) >= 1, "the wrong number's SMS failed"
    assert channels["sms"][7] == "2", "two grid persons answered by SMS"
    assert channels["operator"][7] == "1"
    assert int(channels["supervisor"][7]) >= 1, "the secretary answered for 张国平"

    # The answer curve steps up once per person who answered (3 points per step, 2 ends).
    (answered,) = await jiaoying.rows(
        "select count(*) from recipients where warning_id = :w and answered_at is not null",
        w=warning_id,
    )
    curve = re.search(r'id="curve-persons" points="([^"]+)"', page)
    assert curve is not None
    assert len(curve.group(1).split()) == 2 + 2 * answered[0]

    # The map: every placed grid a point in its state's colour.
    assert page.count('data-state="answered"') >= 3
    assert f'data-code="{SILENT}" data-state="door_knock"' in page

    table = await jiaoying.client.get(f"/v1/warnings/{warning_id}/report.csv", headers=AUTH)
    assert table.status == 200
    raw = await table.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    header, *lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(header) == HEADER
    by_code = {line[2]: dict(zip(HEADER, line, strict=True)) for line in lines}
    assert set(by_code) == set(grids)
    assert by_code[MET_BY_ANSWERS]["结果 verdict"] == "met"
    assert by_code[SILENT]["结果 verdict"] == "missed"
    assert by_code[SILENT]["到位方式 settled by"] == "door_knock"
    assert by_code[SILENT]["镇 township"] == "陆河县水唇镇"
    as_query = await jiaoying.client.get(
        f"/v1/warnings/{warning_id}/report?format=csv", headers=AUTH
    )
    assert await as_query.read() == raw

    final = await api.get(f"/v1/warnings/{warning_id}/map")
    placed = {grid["code"]: grid for grid in final["grids"]}
    assert placed[SILENT]["state"] == "door_knock"
    assert placed[MET_BY_ANSWERS]["state"] == "answered"
    assert all(
        0 <= g["x"] <= final["width"] and 0 <= g["y"] <= final["height"] for g in placed.values()
    )
    counts = {state["state"]: state["grids"] for state in final["states"]}
    assert sum(counts.values()) == len(grids)

    assert (await jiaoying.client.get(f"/v1/warnings/{warning_id}/report")).status == 401
    missing = await jiaoying.client.get("/v1/warnings/w000000000000/report", headers=AUTH)
    assert missing.status == 404
    pdf = await jiaoying.client.get(f"/v1/warnings/{warning_id}/report?format=pdf", headers=AUTH)
    assert pdf.status == 400
    assert (await api.get("/v1/drills"))["drills"] == [], "a real warning is no drill"


async def test_the_report_command_says_what_is_wrong(
    jiaoying: Jiaoying,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JIAOYING_DB_URL", db_url)
    out = tmp_path / "nothing"
    assert await asyncio.to_thread(main, ["report", "w000000000000", "--out", str(out)]) == 1
    assert capsys.readouterr().err == "jiaoying: no warning with id w000000000000\n"
    assert not out.exists(), "no half-written report"


async def _settled(jiaoying: Jiaoying) -> bool:
    return not await jiaoying.rows("select id from attempts where status = 'claimed'")


async def post_drill(jiaoying: Jiaoying, identifier: str) -> str:
    """The example drill (螺溪河 flash flood, orange) sent now, under its own identifier."""
    path = EXAMPLES / "warnings/drill-flash-flood.xml"
    warning = parse_warning(path.read_bytes(), "application/cap+xml")
    now = datetime.now(UTC).replace(microsecond=0)
    data = restamp(warning_to_data(warning), now - warning.sent)
    data["identifier"] = identifier
    response = await jiaoying.client.post(
        "/v1/warnings", data=json.dumps(data), headers={**AUTH, "Content-Type": "application/json"}
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 202, body
    return str(body["id"])


async def test_drills_of_one_roster_are_compared_side_by_side(
    jiaoying: Jiaoying,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = Api(jiaoying)
    # The first drill: nobody answers; every grid has a door-knock task at 4 s.
    first = await post_drill(jiaoying, "LH-DRILL-2026-1")
    persons = await jiaoying.rows("select person_id from recipients where warning_id = :w", w=first)
    assert len(persons) >= 4

    async def knocked() -> bool:
        tasks = (await api.get(f"/v1/tasks?warning={first}"))["tasks"]
        covered = {p["person_id"] for task in tasks for p in task["silent_persons"]}
        return covered == {row.person_id for row in persons}

    await eventually(knocked, 10)
    html = await write_warning_report(
        jiaoying.db,
        first,
        tmp_path / "first",
        rosters=app_of(jiaoying.client)[ROSTERS],
        now=datetime.now(UTC),
    )
    assert html == tmp_path / "first" / "report.html"
    assert (tmp_path / "first" / "report.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    page = html.read_text(encoding="utf-8")
    assert '<span class="drill">演练</span>' in page
    assert page.count("（本次）") == 1, "the first drill of its roster stands alone"

    # The second drill of the same roster: everybody answers at once.
    second = await post_drill(jiaoying, "LH-DRILL-2026-2")
    for row in persons:
        await replies(jiaoying).text_from(jiaoying.phone(row.person_id), "收到")
    await eventually(lambda: _settled(jiaoying))

    monkeypatch.setenv("JIAOYING_DB_URL", db_url)
    out = tmp_path / "second"
    assert await asyncio.to_thread(main, ["report", second, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.html")
    rows = Rows()
    rows.feed((out / "report.html").read_text(encoding="utf-8"))
    compared = rows.of("data-drill")
    assert list(compared) == ["settled", "never_reached", "grids", "promise"]
    slow, fast = (seconds_in(cell) for cell in compared["settled"][1:])
    assert slow >= 4, "the first drill waited for its door-knock tasks"
    assert fast < slow
    assert compared["never_reached"][1:] == [
        f"100%（{len(persons)}/{len(persons)}）",
        f"0%（0/{len(persons)}）",
    ]

    drills = (await api.get("/v1/drills"))["drills"]
    assert [d["warning_id"] for d in drills] == [second, first], "newest first"
    assert drills[1]["never_reached_share"] == 1.0
    assert drills[0]["never_reached"] == 0
    assert drills[0]["grids_met"] == drills[0]["grids"]
    assert drills[0]["all_settled_s"] == pytest.approx(fast, abs=0.05)
    (warning,) = await jiaoying.rows("select roster_id from warnings where id = :w", w=second)
    assert {d["roster_id"] for d in drills} == {warning.roster_id}
    assert (await api.get(f"/v1/drills?roster={warning.roster_id}&limit=1"))["drills"] == drills[:1]
    assert (await api.get("/v1/drills?roster=0000"))["drills"] == []
    assert (await jiaoying.client.get("/v1/drills")).status == 401


async def test_drills_run_in_stores_of_their_own_are_compared_through_one_history(
    jiaoying: Jiaoying,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = Api(jiaoying)
    history_url = f"sqlite+aiosqlite:///{tmp_path}/drills.db"
    history = open_database(history_url)
    await migrate.bring_to_head(history, datetime.now(UTC))
    first = await post_drill(jiaoying, "LH-DRILL-2026-A")
    persons = await jiaoying.rows("select person_id from recipients where warning_id = :w", w=first)
    await replies(jiaoying).text_from(jiaoying.phone(persons[0].person_id), "收到")
    try:
        await write_warning_report(
            jiaoying.db,
            first,
            tmp_path / "first",
            rosters=app_of(jiaoying.client)[ROSTERS],
            now=datetime.now(UTC),
            drills=history,
        )
        async with history.reader.connect() as conn:
            kept = await list_drills(conn, roster_id=None, limit=10)
    finally:
        await history.dispose()
    assert [d.warning_id for d in kept] == [first]
    assert kept[0].never_reached == len(persons) - 1

    second = await post_drill(jiaoying, "LH-DRILL-2026-B")
    monkeypatch.setenv("JIAOYING_DB_URL", db_url)
    out = tmp_path / "second"
    command = ["report", second, "--out", str(out), "--drills", history_url]
    assert await asyncio.to_thread(main, command) == 0
    capsys.readouterr()
    rows = Rows()
    rows.feed((out / "report.html").read_text(encoding="utf-8"))
    everyone = len(persons)
    assert rows.of("data-drill")["never_reached"][1:] == [
        f"{round(100 * (everyone - 1) / everyone)}%（{everyone - 1}/{everyone}）",
        f"100%（{everyone}/{everyone}）",
    ]
    assert (await api.get("/v1/drills"))["drills"] == [], "kept in the history, not the store"
