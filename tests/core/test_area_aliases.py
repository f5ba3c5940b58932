"""Areas placed by the roster's area aliases: other schemes' geocodes and bare descriptions.

The feeds are tests/data/cap/'s: a US NWS CAP 1.2 Flash Flood Warning (SAME and UGC
codes) and CAP 1.1 Severe Thunderstorm Warning (FIPS6 and UGC), a county hydrology
station's warning placed by river reach (an areaDesc alone) and by reservoir. The example
roster's area_aliases.csv places the hydrology station's areas; the foreign feeds are
placed only by a roster a test gives aliases for their codes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.core.area import resolve
from dispatcher.core.blockers import review
from dispatcher.core.cap import parse_cap, read_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import parse_json, warning_to_data
from dispatcher.core.plan import plan_alert, resolve_or_reject
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import check_roster, load_roster

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "tests/data/cap"
EXAMPLE = ROOT / "examples" / "roster"
POLICY = load_policy(ROOT / "examples" / "policy.yaml")
HYDROLOGY = "luhe-hydrology-areadesc.xml"
THUNDERSTORM = "nws-severe-thunderstorm-cap11.xml"
ALIASES = "area_aliases.csv"


def feed(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def roster_with(tmp_path: Path, *rows: str) -> Path:
    """The example roster with these rows added to its area aliases."""
    folder = tmp_path / "roster"
    shutil.copytree(EXAMPLE, folder)
    with (folder / ALIASES).open("a", encoding="utf-8") as file:
        file.writelines(f"{row}\n" for row in rows)
    return folder


def test_cap_keeps_the_geocodes_of_other_schemes() -> None:
    (area,) = parse_cap(feed(THUNDERSTORM)).primary.areas
    assert area.geocodes == ()
    assert area.other_geocodes == (
        ("FIPS6", "040027"),
        ("FIPS6", "040087"),
        ("UGC", "OKC027"),
        ("UGC", "OKC087"),
    )
    hydrology = parse_cap(feed(HYDROLOGY)).primary.areas
    assert [(a.description, a.other_geocodes) for a in hydrology] == [
        ("螺河干流沿岸低洼地带", ()),
        ("新田水库下游影响区", (("水库下游影响区", "新田水库"),)),
    ]


def test_the_json_form_carries_them_and_reads_them_back() -> None:
    warning = parse_cap(feed(HYDROLOGY))
    data = warning_to_data(warning)
    assert data["infos"][0]["areas"][1]["other_geocodes"] == [
        {"value_name": "水库下游影响区", "value": "新田水库"}
    ]
    assert "other_geocodes" not in data["infos"][0]["areas"][0]
    assert parse_json(json.dumps(data).encode()) == warning


def test_a_description_and_a_reservoir_code_are_placed_by_the_example_aliases() -> None:
    roster = load_roster(EXAMPLE)

    resolution = resolve(parse_cap(feed(HYDROLOGY)).areas, roster)

    assert [grid.code for grid in resolution.grids] == [
        # 螺河干流沿岸低洼地带: 新田村, 高潭村 and 水唇村, every grid of each
        "441523100201001",
        "441523100201002",
        "441523100201003",
        "441523100202001",
        "441523100202002",
        "441523101201001",
        "441523101201002",
    ]
    assert resolution.unmatched == ()
    assert "水库下游影响区 新田水库 → 441523100201003" in resolution.aliased
    assert "areaDesc 螺河干流沿岸低洼地带 → 441523101201" in resolution.aliased


def test_a_foreign_warning_is_placed_through_aliases_of_its_codes(tmp_path: Path) -> None:
    # Case and spacing as another office typed them; a zone standing for two townships.
    folder = roster_with(tmp_path, "ugc, okc027 ,441523101", "UGC,OKC027,441523102000")
    roster = load_roster(folder)
    warning = parse_cap(feed(THUNDERSTORM))

    plan = plan_alert(warning, roster, POLICY)

    townships = {code[:9] for code in (grid.code for grid in plan.resolution.grids)}
    assert townships == {"441523101", "441523102"}
    assert plan.recipients
    assert set(plan.resolution.aliased) == {
        "UGC OKC027 → 441523101",
        "UGC OKC027 → 441523102000",
    }


@pytest.mark.parametrize(
    ("name", "named"),
    [
        (THUNDERSTORM, "Cleveland; McClain [FIPS6 040027, FIPS6 040087, UGC OKC027, UGC OKC087, "),
        ("nws-flash-flood-warning.xml", "Fort Bend, TX; Harris, TX [SAME 048157, SAME 048201, "),
        ("meteoalarm-at-thunderstorm.xml", "Vienna [EMMA_ID AT009, NUTS2 AT13]; Lower Austria"),
    ],
)
def test_without_an_alias_it_is_refused_as_no_grid_in_this_roster_naming_the_area(
    name: str, named: str
) -> None:
    warning = read_cap(feed(name)).warning
    assert warning is not None

    with pytest.raises(InvalidWarning) as refused:
        resolve_or_reject(warning, load_roster(EXAMPLE))

    reason = str(refused.value)
    assert reason.startswith("alert/info/area: unknown area: no grid in this roster for ")
    assert named in reason
    assert "area_aliases: value_name,value,code" in reason


def test_a_preview_without_a_roster_says_only_aliases_can_place_it() -> None:
    reading = read_cap(feed(HYDROLOGY))
    assert reading.warning is not None and not reading.problems
    found = review(reading, POLICY, reading.warning.sent)
    assert found.blockers == (
        "alert/info[0]/area[0]: area has no administrative code, polygon or circle; only a "
        "roster's area_aliases can place it (areaDesc)",
        "alert/info[0]/area[1]: area has no administrative code, polygon or circle; only a "
        "roster's area_aliases can place it (水库下游影响区 新田水库)",
    )
    with_roster = review(reading, POLICY, reading.warning.sent, load_roster(EXAMPLE))
    assert with_roster.blockers == ()


def test_parse_with_the_roster_shows_the_resolution(capsys: pytest.CaptureFixture[str]) -> None:
    policy = ["--policy", str(ROOT / "examples" / "policy.yaml")]
    assert main(["parse", str(FEEDS / HYDROLOGY), "--roster", str(EXAMPLE), *policy]) == 0
    out = capsys.readouterr().out
    assert (
        "区域 areas      螺河干流沿岸低洼地带；新田水库下游影响区 [水库下游影响区 新田水库]" in out
    )
    assert "区域别名 area aliases used: areaDesc 螺河干流沿岸低洼地带 → 441523100201；" in out
    assert "会呼叫 would call 10 人 persons in 7 个网格 grids" in out
    assert "不会发出" in out and "area_aliases can place it" not in out

    assert main(["parse", str(FEEDS / THUNDERSTORM), "--roster", str(EXAMPLE), *policy]) == 0
    out = capsys.readouterr().out
    assert "no grid in this roster for Cleveland; McClain" in out
    assert "会呼叫" not in out


def test_the_workbook_carries_the_aliases_in_its_sheet() -> None:
    folder, workbook = load_roster(EXAMPLE), load_roster(EXAMPLE.with_suffix(".xlsx"))
    assert workbook.aliases == folder.aliases
    assert len(folder.aliases) == 7


def test_bad_alias_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    folder = roster_with(
        tmp_path,
        "UGC,OKC027,441599",  # a county of another roster
        ",OKC087,441523101",
        "UGC,,441523101",
        "UGC,OKC087,",
        "UGC,OKC087,Harris",
        "流域,螺河,4.41523E+11",
        "areadesc,螺河干流沿岸低洼地带,441523100201",  # the example's first row, retyped
    )

    assert check_roster(folder) == [
        "area_aliases.csv:9: code 441599 places no grid of this roster",
        "area_aliases.csv:10: value_name is empty",
        "area_aliases.csv:11: value is empty",
        "area_aliases.csv:12: code is empty",
        "area_aliases.csv:13: code 'Harris' must be an administrative code (6, 9 or 12 digits) "
        "or a grid code",
        "area_aliases.csv:14: code 4.41523E+11 was turned into a number by the spreadsheet; "
        "format as text",
        "area_aliases.csv:15: duplicate alias areaDesc '螺河干流沿岸低洼地带' → 441523100201 "
        "(first on line 2)",
    ]
