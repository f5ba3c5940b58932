"""`jiaoying status`, `ledger` and `post` as a duty officer types them, against the running
service: what they print is what a person reads (names, masked phones, each silent
person's next step, the places, the open door-knock tasks), the ledger is the ledger,
and every failure is one line that says what to do."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
from typing import Any

from dispatcher.cli.columns import display_width
from tests.engine.conftest import EXAMPLES, ROOT, TOKEN, Jiaoying, eventually

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def jiaoying_cli(*args: str, **env: str) -> tuple[int, bytes, str]:
    """Run `jiaoying ARGS` as its own process (the running test service keeps serving)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("JIAOYING_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dispatcher.cli",
        *args,
        env={**environ, **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err.decode()


def full_numbers(jiaoying: Jiaoying, text: str) -> list[str]:
    """The roster's phone numbers that appear whole in `text`."""
    numbers = [p.phone.removeprefix("+86") for p in jiaoying.roster.persons.values() if p.phone]
    return [number for number in numbers if number in text]


def service(jiaoying: Jiaoying) -> dict[str, str]:
    return {"JIAOYING_URL": str(jiaoying.client.make_url("")), "JIAOYING_TOKEN": TOKEN}


async def api(jiaoying: Jiaoying, path: str) -> Any:
    response = await jiaoying.client.get(path, headers=AUTH)
    assert response.status == 200, path
    return await response.json()


async def test_status_prints_what_a_person_reads_at_a_glance(jiaoying: Jiaoying) -> None:
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    path = f"/v1/warnings/{warning_id}"
    recipients = (await api(jiaoying, f"{path}/recipients?limit=500"))["recipients"]
    answering = recipients[0]
    entry = {"person_id": answering["person_id"], "how": "phone", "note": "电话确认"}
    answered = await jiaoying.client.post(f"{path}/answers", json=entry, headers=AUTH)
    assert answered.status in (200, 201)

    # The fast policy opens door-knock tasks 4.5 s after `sent`.
    async def open_tasks() -> list[Any]:
        page = await api(jiaoying, f"/v1/tasks?warning={warning_id}&status=open")
        tasks: list[Any] = page["tasks"]
        return tasks

    await eventually(open_tasks, within=10)

    code, out, err = await jiaoying_cli("status", warning_id, **service(jiaoying))
    assert code == 0, err
    text = out.decode()
    summary = await api(jiaoying, path)
    recipients = (await api(jiaoying, f"{path}/recipients?limit=500"))["recipients"]
    tasks = (await api(jiaoying, f"/v1/tasks?warning={warning_id}&status=open"))["tasks"]

    assert text.startswith("红色预警 暴雨红色预警")
    assert f"已应答 answered {summary['answered']}/{summary['recipients']}" in text
    assert re.search(rf"已应答 answered\s+{summary['states']['answered']}\n", text)
    silent = [r for r in recipients if r["state"] != "answered"]
    assert f"未叫醒名单 silent ({len(silent)})" in text
    for recipient in silent:
        row = next(line for line in text.splitlines() if line.startswith(f"  {recipient['name']} "))
        assert recipient["phone"] in row, "the masked phone is on the person's row"
        grid = recipient["grids"][0]["name"]
        assert grid in row
    silent_block = text.split("未叫醒名单")[1].split("敲门入户任务")[0]
    assert f"  {answering['name']} " not in silent_block, "who answered is not listed as silent"
    assert not full_numbers(jiaoying, text), "no full phone number is printed"
    # Places: answered/total per township and village, as the API's recipients say.
    township = summary["places"][0]
    township_persons = {
        r["person_id"]
        for r in recipients
        for g in r["grids"]
        if g["code"].startswith(township["code"])
    }
    township_answered = {
        r["person_id"]
        for r in recipients
        if r["state"] == "answered"
        and any(g["code"].startswith(township["code"]) for g in r["grids"])
    }
    assert re.search(
        rf"\n  {re.escape(township['name'])}\s+{len(township_answered)}/{len(township_persons)}\n",
        text,
    )
    assert f"敲门入户任务 open door-knock tasks ({len(tasks)})" in text
    assert f"#{tasks[0]['id']}" in text and tasks[0]["assignee"]["name"] in text
    # The columns line up on screen although the names are Chinese.
    header = next(line for line in text.splitlines() if line.startswith("  姓名"))
    column = display_width(header[: header.index("电话")])
    for recipient in silent:
        row = next(line for line in text.splitlines() if line.startswith(f"  {recipient['name']} "))
        assert display_width(row[: row.index(recipient["phone"])]) == column

    code, out, err = await jiaoying_cli("status", warning_id, "--json", **service(jiaoying))
    assert code == 0, err
    data = json.loads(out)
    assert data["warning"]["id"] == warning_id
    assert len(data["recipients"]) == summary["recipients"]
    assert {task["id"] for task in data["tasks"]} >= {task["id"] for task in tasks}


async def test_ledger_writes_the_ledger_to_stdout(jiaoying: Jiaoying, tmp_path: Any) -> None:
    warning_id = (await jiaoying.post("red-rainstorm.xml"))["id"]
    await jiaoying.post("red-rainstorm-cancel.xml")

    async def served() -> bytes:
        response = await jiaoying.client.get(f"/v1/warnings/{warning_id}/ledger.csv", headers=AUTH)
        return await response.read()

    # The cancel notices are out and the warning closed: the ledger holds still.
    async def settled() -> bool:
        before = await served()
        await asyncio.sleep(0.5)
        return "全部结束 closed".encode() in before and before == await served()

    await eventually(settled, within=15)
    code, out, err = await jiaoying_cli("ledger", warning_id, **service(jiaoying))
    assert code == 0, err
    assert out == await served(), "the bytes the API serves, BOM and all"
    assert out.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows[0][0] == "时间(北京时间) time UTC+8"
    assert any("收到消息 message Alert" in row[1] for row in rows[1:])
    assert not full_numbers(jiaoying, out.decode("utf-8-sig"))

    target = tmp_path / "ledger.csv"
    code, _, err = await jiaoying_cli("ledger", warning_id, "-o", str(target), **service(jiaoying))
    assert code == 0, err
    assert target.read_bytes() == out


async def test_post_prints_the_new_warning_and_refusals_say_why(jiaoying: Jiaoying) -> None:
    code, out, err = await jiaoying_cli(
        "post", "--restamp", str(EXAMPLES / "warnings/blue-gale.json"), **service(jiaoying)
    )
    assert code == 0, err
    warning_id, outcome, msg_type, *_ = out.decode().split()
    assert (outcome, msg_type) == ("created", "Alert")
    assert (await api(jiaoying, f"/v1/warnings/{warning_id}"))["level"] == "blue"

    broken = ROOT / "tests/data/cap/broken-five-defects.xml"
    code, out, err = await jiaoying_cli("post", str(broken), **service(jiaoying))
    assert code == 1
    assert "refused (422): 5 problems:" in err
    assert "alert/info[1]/area[1]/circle[0]: circle radius -5.0 km" in err


async def test_every_failure_is_one_line_saying_what_to_do(jiaoying: Jiaoying) -> None:
    url = str(jiaoying.client.make_url("")).rstrip("/")
    code, _, err = await jiaoying_cli("status", "w000000000000", **service(jiaoying))
    assert (code, err) == (1, f"jiaoying: no warning with id w000000000000 at {url}\n")

    env = {**service(jiaoying), "JIAOYING_TOKEN": "not-the-token"}
    code, _, err = await jiaoying_cli("ledger", "w000000000000", **env)
    assert code == 1 and err.count("\n") == 1
    assert f"jiaoying at {url} refused the API token (401)" in err
    assert "not-the-token" not in err

    nowhere = "http://127.0.0.1:9"  # discard: nothing answers there
    code, _, err = await jiaoying_cli("status", "w1", JIAOYING_URL=nowhere, JIAOYING_TOKEN=TOKEN)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"jiaoying: cannot reach jiaoying at {nowhere} (")
    assert "Traceback" not in err
