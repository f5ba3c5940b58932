"""A roster kept as an Excel workbook, reloaded without a restart.

The service's JIAOYING_ROSTER_DIR names a copy of the example workbook, which the tests
edit as a township office does in Excel (openpyxl writes the same file format): a new
grid person's number typed as a number, a grid code mistyped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from dispatcher.core.canonical import roster_digest
from dispatcher.core.phones import normalise_phone
from tests.engine.conftest import EXAMPLES, Jiaoying, eventually
from tests.engine.test_status_api import RED, Api, all_told


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    target = tmp_path / "陆河县网格名册.xlsx"
    shutil.copy(EXAMPLES / "roster.xlsx", target)
    return target


@pytest.fixture
def extra_settings(workbook: Path) -> dict[str, str]:
    return {"JIAOYING_ROSTER_DIR": str(workbook)}


def edit_person(workbook: Path, person_id: str, **cells: Any) -> int:
    """Set cells of one person's row (by column name); the row Excel shows."""
    book = openpyxl.load_workbook(workbook)
    sheet = book["persons"]
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == person_id:
            for column, value in cells.items():
                row[header.index(column)].value = value
            book.save(workbook)
            return int(row[0].row)
    raise AssertionError(f"{person_id} is not in the workbook")


async def reload(api: Api, *, expect: int) -> dict[str, Any]:
    answer: dict[str, Any] = await api.post("/v1/roster/reload", b"", expect=expect)
    return answer


async def test_a_workbook_reloads_and_the_next_warning_uses_it(
    jiaoying: Jiaoying, workbook: Path
) -> None:
    api = Api(jiaoying)
    before = (await api.get("/v1/roster"))["in_force"]
    assert before["digest"] == roster_digest(jiaoying.roster), "the example, from the folder"

    # 张国平 (LH-WG-003) handed his grid to 阿依古丽, whose number was typed as a number.
    edit_person(workbook, "LH-WG-003", name="阿依古丽·买买提", phone=13800130103)
    loaded = await reload(api, expect=200)

    assert loaded["in_force"]["source"] == str(workbook)
    assert loaded["in_force"]["digest"] != before["digest"]
    assert loaded["last_reload"]["outcome"] == "loaded"
    warning_id = (await jiaoying.post(RED))["id"]
    await eventually(lambda: all_told(api, warning_id))
    texted = {notice.address for notice in jiaoying.sent("sms", "alert")}
    assert normalise_phone("13800130103") in texted
    assert normalise_phone("13800130003") not in texted


async def test_a_bad_workbook_is_refused_naming_sheet_and_row_and_the_old_one_stays(
    jiaoying: Jiaoying, workbook: Path
) -> None:
    api = Api(jiaoying)
    before = (await api.get("/v1/roster"))["in_force"]
    row = edit_person(workbook, "LH-WG-005", grid_codes="441523100299001")

    refused = await reload(api, expect=422)

    assert refused["problems"] == [
        f"persons!{row}: grid 441523100299001 is not in sheet grids",
    ]
    assert refused["roster"]["in_force"] == before
