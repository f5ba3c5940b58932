"""Rosters as counties keep them: one Excel workbook, a sheet per table.

The workbooks here are written with openpyxl the way Excel leaves them: phone numbers
typed as numbers, header cells with spaces, formatted empty rows at the end, an
instructions sheet, a 20-digit code Excel has rounded.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook

from dispatcher.cli import main
from dispatcher.core.canonical import roster_digest
from dispatcher.core.errors import RosterError
from dispatcher.files.roster_dir import check_roster, load_roster
from dispatcher.files.roster_workbook import cell_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GRIDS: list[object] = ["code", "name", "parent_code", "households", "population", "lat", "lon"]
PERSONS: list[object] = [
    "id",
    "name",
    "phone",
    "wechat_openid",
    "role",
    "grid_codes",
    "supervisor_id",
]
ZONES: list[object] = ["zone_id", "grid_code", "name"]
Sheet = list[list[object]]


def write_book(path: Path, sheets: dict[str, Sheet]) -> Path:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "填表说明"
    notes.append(["网格名册：每张表第一行是表头，请勿改动。"])
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def county(**changed: Sheet) -> dict[str, Sheet]:
    """A small township's roster as a workbook's sheets; `changed` replaces sheets."""
    sheets: dict[str, Sheet] = {
        "grids": [
            GRIDS,
            ["441523100201001", "新田村第一网格", "441523100201", 167, 677, 23.30542, 115.64289],
            ["441523100201002", "新田村第二网格", "441523100201", 171, 673, 23.29924, 115.64737],
            [441523100201003, "新田村第三网格", 441523100201, 312, 1133, None, None],
        ],
        "persons": [
            [" id ", "name ", " phone", "wechat_openid", "role", "grid_codes", "supervisor_id "],
            ["XT-SJ", "罗建华", 13900130001, "oX3pkkrGNJvyPshHE13vNp48nM-K", "村书记", None, None],
            ["XT-WG-1", "曾永生", 13800130011.0, None, "网格员", "441523100201001", "XT-SJ"],
            ["XT-WG-2", "欧阳晓雯", "+86 138-0013-0012", None, "网格员(B角)", None, "XT-SJ"],
            ["XT-WG-3", "阿依古丽", " 138 0013 0013 ", None, "网格员", None, "XT-SJ"],
            [None, None, None, None, None, None, None],
            ["", "", "", "", "", "", ""],
        ],
        "broadcast_zones": [
            ZONES,
            ["441523100201", "441523100201001", "新田村村委会广场应急广播"],
            ["441523100201", "441523100201002", "新田村村委会广场应急广播"],
            ["441523100201", "441523100201003", "新田村村委会广场应急广播"],
            ["HT-XT-DAM-01", "441523100201003", "新田村河坝应急广播"],
        ],
    }
    persons = sheets["persons"]
    persons[3][5] = "441523100201002；441523100201003"
    persons[4][5] = "441523100201003"
    sheets.update(changed)
    return sheets


def test_the_example_workbook_is_the_example_roster() -> None:
    folder = load_roster(EXAMPLES / "roster")
    workbook = load_roster(EXAMPLES / "roster.xlsx")

    assert roster_digest(workbook) == roster_digest(folder)
    assert (len(workbook.grids), len(workbook.persons), len(workbook.zones)) == (24, 55, 14)


def test_the_script_makes_the_workbook_from_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "陆河县网格名册.xlsx"
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "make_roster_workbook.py"),
            str(EXAMPLES / "roster"),
            target,
        ],
        check=True,
        capture_output=True,
    )

    assert roster_digest(load_roster(target)) == roster_digest(load_roster(EXAMPLES / "roster"))
    # It is what ships: the shipped workbook was made from the folder as it is now.
    assert roster_digest(load_roster(target)) == roster_digest(
        load_roster(EXAMPLES / "roster.xlsx")
    )


def test_a_workbook_as_excel_leaves_it_is_read_right(tmp_path: Path) -> None:
    roster = load_roster(write_book(tmp_path / "新田村.xlsx", county()))

    phones = {person.id: person.phone for person in roster.persons.values()}
    assert phones == {
        "XT-SJ": "+8613900130001",
        "XT-WG-1": "+8613800130011",
        "XT-WG-2": "+8613800130012",
        "XT-WG-3": "+8613800130013",
    }
    assert roster.persons["XT-WG-2"].grid_codes == ("441523100201002", "441523100201003")
    assert roster.grids["441523100201003"].parent_code == "441523100201"
    assert roster.grids["441523100201003"].location is None
    assert roster.grids["441523100201001"].households == 167
    square = roster.zone("441523100201")
    assert square is not None and len(square.grid_codes) == 3


def test_the_workbook_and_the_same_tables_as_csv_are_one_roster(tmp_path: Path) -> None:
    sheets = county()
    folder = tmp_path / "csv"
    folder.mkdir()
    for name, rows in sheets.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows([cell_text(v) for v in row] for row in rows)

    from_book = load_roster(write_book(tmp_path / "book.xlsx", sheets))

    assert roster_digest(from_book) == roster_digest(load_roster(folder))


def test_sheet_names_ignore_case_and_spaces_and_zones_are_optional(tmp_path: Path) -> None:
    sheets = county()
    renamed = {" Grids ": sheets["grids"], "PERSONS": sheets["persons"]}

    roster = load_roster(write_book(tmp_path / "book.xlsx", renamed))

    assert (len(roster.grids), len(roster.persons), roster.zones) == (3, 4, ())


def test_every_problem_names_its_sheet_and_row(tmp_path: Path) -> None:
    sheets = county()
    persons = sheets["persons"]
    persons[2][2] = 1380013001  # ten digits: a digit lost
    persons[4][1] = None
    persons.insert(5, ["XT-WG-1", "曾永生", 13800130019, None, "网格员", "441523100299001", "XT"])
    sheets["grids"].append([44152310020100400, "新田村第四网格", "441523100201", 1, 2, None, None])
    sheets["broadcast_zones"].append(["441523100201", "441523100201001", "新田村应急广播"])

    problems = check_roster(write_book(tmp_path / "book.xlsx", sheets))

    assert problems == [
        "grids!5: grid code 4.41523E+16 was turned into a number by the spreadsheet; "
        "format as text",
        "persons!3: phone ******3001: a Chinese mobile number has 11 digits, this one has 10",
        "persons!5: name is empty",
        "persons!6: grid 441523100299001 is not in sheet grids",
        "persons!6: duplicate person id XT-WG-1 (first on line 3)",
        "broadcast_zones!6: zone 441523100201 is named '新田村村委会广场应急广播' on line 2 and "
        "'新田村应急广播' here: one zone, one name (a different zone needs its own zone_id)",
        "broadcast_zones!6: duplicate zone 441523100201 for grid 441523100201001 (first on line 2)",
    ]
    with pytest.raises(RosterError):
        load_roster(tmp_path / "book.xlsx")


def test_a_missing_sheet_or_a_wrong_header_is_named(tmp_path: Path) -> None:
    sheets = county()
    del sheets["grids"]
    sheets["persons"][0] = ["id", "name", "手机", "wechat_openid", "role", "grid_codes"]

    assert check_roster(write_book(tmp_path / "book.xlsx", sheets)) == [
        "grids: required sheet is missing",
        f"persons!1: header must be {','.join(map(str, PERSONS))}; missing phone, supervisor_id; "
        "unexpected '手机'",
    ]


def test_what_is_not_a_workbook_is_refused_clearly(tmp_path: Path) -> None:
    renamed = tmp_path / "roster.xlsx"
    renamed.write_text("code,name\n", encoding="utf-8")
    old = tmp_path / "roster.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))

    assert check_roster(renamed) == [
        f"{renamed}: not an Excel workbook (.xlsx) that can be read (BadZipFile)"
    ]
    assert check_roster(old) == [
        f"{old}: an Excel 97-2003 workbook (.xls): save it as .xlsx (Excel Workbook)"
    ]
    assert check_roster(tmp_path / "nowhere.xlsx") == [
        f"{tmp_path / 'nowhere.xlsx'}: roster workbook not found"
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (13900130001, "13900130001"),
        (13900130001.0, "13900130001"),
        (441523100201001, "441523100201001"),
        (44152310020103140102, "4.41523E+19"),
        (23.30542, "23.30542"),
        (0, "0"),
        (None, ""),
        ("  新田村 ", "新田村"),
        (True, "TRUE"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_roster_check_takes_a_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roster", "check", str(EXAMPLES / "roster.xlsx")]) == 0
    assert "24 grids, 55 persons, 14 broadcast zones" in capsys.readouterr().out

    sheets = county()
    sheets["persons"][4][2] = "1380013"
    bad = write_book(tmp_path / "bad.xlsx", sheets)
    assert main(["roster", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: 1 problem(s)" in err
    assert "persons!5: phone ****013: a Chinese mobile number has 11 digits" in err
