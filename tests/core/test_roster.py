"""Loading the roster: every problem found at once, with file and line, or nothing loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.core.errors import RosterError
from dispatcher.core.model import Point
from dispatcher.core.roster import Grid, Roster, admin_prefix
from dispatcher.core.roster_zones import area_code_of
from dispatcher.files.roster_dir import check_roster, load_roster

EXAMPLE = Path(__file__).parents[2] / "examples" / "roster"
BAD = Path(__file__).parents[1] / "data" / "bad_roster"

GRIDS_HEADER = "code,name,parent_code,households,population,lat,lon"
PERSONS_HEADER = "id,name,phone,wechat_openid,role,grid_codes,supervisor_id"
ZONES_HEADER = "zone_id,grid_code,name"
GRID = "441523100201001,新田村第一网格,441523100201,167,677,23.30542,115.64289"
PERSON = "P1,曾永生,13800130001,,网格员,441523100201001,"


def write_roster(
    directory: Path,
    grids: list[str] | None = None,
    persons: list[str] | None = None,
    zones: list[str] | None = None,
    *,
    bom: bool = False,
    newline: str = "\n",
) -> Path:
    """Write the given lines (header included) as the roster files; None leaves a file out."""
    files = {"grids.csv": grids, "persons.csv": persons, "broadcast_zones.csv": zones}
    for name, lines in files.items():
        if lines is not None:
            text = newline.join(lines) + newline
            (directory / name).write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return directory


def test_example_roster_loads() -> None:
    roster = load_roster(EXAMPLE)

    assert (len(roster.grids), len(roster.persons), len(roster.zones)) == (24, 55, 14)
    assert all(
        p.phone is None or p.phone.startswith("+86138") or p.phone.startswith("+86139")
        for p in roster.persons.values()
    )
    assert [p.id for p in roster.persons.values() if p.phone is None] == ["LH-WG-027"]
    # Every grid has someone to call, and every chain ends at the county duty officer.
    assert all(roster.persons_of_grid(code) for code in roster.grids)
    for person in roster.persons.values():
        chain = roster.supervisor_chain(person.id)
        top = chain[-1] if chain else person
        assert top.id == "LH-XIAN-01"


def test_supervisor_chain_is_nearest_first_without_the_person() -> None:
    roster = load_roster(EXAMPLE)

    chain = roster.supervisor_chain("LH-WG-001")

    assert [(p.id, p.role) for p in chain] == [
        ("LH-100001-SJ", "社区书记"),
        ("LH-100-BC", "包村干部"),
        ("LH-100-ZB", "镇值班员"),
        ("LH-XIAN-01", "县应急管理局值班员"),
    ]
    assert roster.supervisor_chain("LH-XIAN-01") == ()
    with pytest.raises(KeyError):
        roster.supervisor_chain("nobody")


def test_roster_queries() -> None:
    roster = load_roster(EXAMPLE)

    assert [p.id for p in roster.persons_of_grid("441523101203001")] == ["LH-WG-015", "LH-WG-017"]
    assert roster.persons_of_grid("441599000000001") == ()
    zones = roster.zones_of_grids(["441523100201001", "441523100201002", "441523100201001"])
    assert [zone.zone_id for zone in zones] == ["441523100201", "44152310020103140102"]
    assert [g.code for g in roster.grids_under("441523100201")] == [
        "441523100201001",
        "441523100201002",
        "441523100201003",
    ]
    assert roster.grids_under("") == ()
    assert roster.grids["441523102204001"].location is None
    assert roster.grids["441523100201001"].location == Point(23.30542, 115.64289)


def test_a_zone_covers_several_grids_and_a_village_may_have_two() -> None:
    roster = load_roster(EXAMPLE)

    square, dam = roster.zone("441523100201"), roster.zone("44152310020103140102")
    assert square is not None and dam is not None
    assert square.grid_codes == ("441523100201001", "441523100201002", "441523100201003")
    assert (square.name, square.area_code) == ("河田镇新田村村委会广场应急广播", "441523100201")
    assert dam.grid_codes == ("441523100201002", "441523100201003")
    assert (dam.name, dam.area_code) == ("河田镇新田村河坝应急广播", "441523100201")
    # The platform's own id for loudspeakers over two villages plays in their township.
    market = roster.zone("LHDK-XU-01")
    assert market is not None and market.area_code == "441523103000"
    assert [z.zone_id for z in roster.zones_of_grids(["441523103201002", "441523103202001"])] == [
        "LHDK-XU-01"
    ]
    several = [zone for zone in roster.zones if len(zone.grid_codes) > 1]
    assert len({zone.area_code for zone in several}) >= 2
    assert roster.zone("441523999999") is None


@pytest.mark.parametrize(
    ("grids", "area"),
    [
        (["441523100201001"], "441523100201"),
        (["441523100201001", "441523100201002"], "441523100201"),
        (["441523100201001", "441523100202001"], "441523100000"),
        (["441523100201001", "441523101201001"], "441523000000"),
        (["441523100201001", "441581100201001"], "441500000000"),
        (["441523100", "441523100201001"], "441523100000"),  # a grid as big as its township
        (["441523100201001", "451523100201001"], ""),
        ([], ""),
    ],
)
def test_a_zones_area_code_is_the_smallest_division_holding_its_grids(
    grids: list[str], area: str
) -> None:
    assert area_code_of(grids) == area


def test_a_zone_repeats_with_each_of_its_grids_under_one_name(tmp_path: Path) -> None:
    second = "441523100201002,新田村第二网格,441523100201,171,673,,"
    rows = [
        ZONES_HEADER,
        "441523100201,441523100201001,新田村应急广播",
        "441523100201,441523100201002,新田村应急广播",
        "HT-XT-DAM,441523100201002,新田村河坝应急广播",
    ]
    roster = load_roster(
        write_roster(tmp_path, [GRIDS_HEADER, GRID, second], [PERSONS_HEADER, PERSON], rows)
    )

    assert [(z.zone_id, z.grid_codes) for z in roster.zones] == [
        ("441523100201", ("441523100201001", "441523100201002")),
        ("HT-XT-DAM", ("441523100201002",)),
    ]


def test_a_zone_over_two_provinces_has_no_area_to_play_in(tmp_path: Path) -> None:
    other = "451523100201001,邻省网格,451523100201,1,2,,"
    rows = [
        ZONES_HEADER,
        "BORDER-01,441523100201001,界河应急广播",
        "BORDER-01,451523100201001,界河应急广播",
    ]
    folder = write_roster(tmp_path, [GRIDS_HEADER, GRID, other], [PERSONS_HEADER, PERSON], rows)

    assert check_roster(folder) == [
        "broadcast_zones.csv:2: zone BORDER-01 covers grids of several provinces: it has no "
        "area code to play in"
    ]


def test_grids_under_a_prefix_takes_the_whole_range() -> None:
    grids = {
        code: Grid(code, code, "", 0, 0, None)
        for code in ["441523100201001", "441523100201999", "441523100202001", "441523199201001"]
    }
    roster = Roster(grids, {})

    assert [g.code for g in roster.grids_under("441523100201")] == [
        "441523100201001",
        "441523100201999",
    ]
    assert [g.code for g in roster.grids_under("4415231002019")] == ["441523100201999"]
    assert len(roster.grids_under("441523")) == 4
    assert roster.grids_under("441524") == ()


# Every problem of tests/data/bad_roster: (file:line, what the reason must say).
BAD_ROSTER_PROBLEMS = [
    ("grids.csv:3", "duplicate grid code 441523100201001 (first on line 2)"),
    ("grids.csv:4", "grid code '44152A100201001' must be 6 or more digits"),
    ("grids.csv:5", "turned into a number by the spreadsheet"),
    ("grids.csv:6", "parent_code 441599 is neither a grid"),
    ("grids.csv:7", "households '-5' must be a whole number"),
    ("grids.csv:7", "population 'abc' must be a whole number"),
    ("grids.csv:7", "parent_code 4415231 is neither a grid"),
    ("grids.csv:8", "lat and lon must both be given or both be empty"),
    ("grids.csv:8", "name is empty"),
    ("grids.csv:9", "out of range (lat and lon swapped?)"),
    ("grids.csv:10", "parent_code 441523100201001 is a grid whose code does not contain"),
    ("grids.csv:12", "expected 7 cells, found 6"),
    # Lines 13-14 are one row with a line break inside a quoted name: reported where it starts.
    ("grids.csv:13", "population '约20' must be a whole number"),
    ("grids.csv:15", "grid code '44152' must be 6 or more digits"),
    ("persons.csv:3", "phone ******3000: a Chinese mobile number has 11 digits, this one has 10"),
    ("persons.csv:4", "no phone and no wechat_openid"),
    ("persons.csv:5", "grid 441523999999001 is not in grids.csv"),
    ("persons.csv:6", "P05 cannot supervise themselves"),
    ("persons.csv:7", "supervisor_id P99 is not a person"),
    ("persons.csv:8", "supervisor chain loops: P07 → P08 → P09 → P07"),
    ("persons.csv:11", "duplicate person id P02 (first on line 3)"),
    ("persons.csv:12", "name is empty"),
    ("persons.csv:12", "wechat_openid must be"),
    ("persons.csv:13", "phone was turned into a number by the spreadsheet"),
    ("persons.csv:15", "id is empty"),
    ("broadcast_zones.csv:3", "zone 441523100201 is named '新田村应急广播' on line 2"),
    ("broadcast_zones.csv:4", "grid 441523100299001 is not in grids.csv"),
    ("broadcast_zones.csv:5", "name is empty"),
    ("broadcast_zones.csv:5", "grid_code is empty"),
    ("broadcast_zones.csv:6", "duplicate zone 441523100201 for grid 441523100201001 (first on"),
    ("broadcast_zones.csv:7", "zone_id 4.41523E+11 was turned into a number by the spreadsheet"),
    ("broadcast_zones.csv:8", "zone_id '新田村 河坝' must be 1-64 letters, digits"),
]


def test_bad_roster_reports_every_problem_with_file_and_line() -> None:
    problems = check_roster(BAD)

    assert len(problems) == len(BAD_ROSTER_PROBLEMS), "\n".join(problems)
    for problem, (where, reason) in zip(problems, BAD_ROSTER_PROBLEMS, strict=True):
        assert problem.startswith(where + ": "), problem
        assert reason in problem, problem


def test_bad_roster_is_not_loaded_at_all() -> None:
    with pytest.raises(RosterError) as caught:
        load_roster(BAD)

    assert list(caught.value.problems) == check_roster(BAD)
    assert "1390013000" not in str(caught.value)  # the bad phone is shown masked


def test_one_bad_row_blocks_the_whole_roster(tmp_path: Path) -> None:
    write_roster(
        tmp_path,
        [GRIDS_HEADER, GRID],
        [PERSONS_HEADER, PERSON, "P2,温晓燕,1380013000,,网格员,441523100201001,P1"],
    )

    with pytest.raises(RosterError) as caught:
        load_roster(tmp_path)

    assert caught.value.problems == (
        "persons.csv:3: phone ******3000: a Chinese mobile number has 11 digits, this one has 10",
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("code,name,parent_code,households,population,lat", "missing lon"),
        (GRIDS_HEADER + ",remark", "unexpected 'remark'"),
        ("code,name,households,parent_code,population,lat,lon", "columns are out of order"),
        ("编码,name,parent_code,households,population,lat,lon", "missing code; unexpected '编码'"),
        ("", "the first line is empty"),
    ],
)
def test_header_must_be_exact(tmp_path: Path, header: str, reason: str) -> None:
    write_roster(tmp_path, [header, GRID], [PERSONS_HEADER, PERSON])

    problems = check_roster(tmp_path)

    # Persons are still checked, but not against a grids file that could not be read.
    assert problems == [f"grids.csv:1: header must be {GRIDS_HEADER}; {reason}"]


def test_empty_file_is_a_header_problem(tmp_path: Path) -> None:
    write_roster(tmp_path, [GRIDS_HEADER, GRID], [PERSONS_HEADER, PERSON])
    (tmp_path / "broadcast_zones.csv").write_bytes(b"")

    assert check_roster(tmp_path) == [
        f"broadcast_zones.csv:1: header must be {ZONES_HEADER}; the first line is empty"
    ]


def test_required_files_missing(tmp_path: Path) -> None:
    write_roster(tmp_path, zones=[ZONES_HEADER])

    assert check_roster(tmp_path) == [
        "grids.csv: required file is missing",
        "persons.csv: required file is missing",
    ]
    assert check_roster(tmp_path / "nowhere") == [
        f"{tmp_path / 'nowhere'}: roster directory not found"
    ]


def test_broadcast_zones_are_optional(tmp_path: Path) -> None:
    roster = load_roster(write_roster(tmp_path, [GRIDS_HEADER, GRID], [PERSONS_HEADER, PERSON]))

    assert roster.zones == ()
    assert roster.persons["P1"].phone == "+8613800130001"


def test_bom_whitespace_crlf_and_blank_rows_are_tolerated(tmp_path: Path) -> None:
    plain = load_roster(
        write_roster(tmp_path, [GRIDS_HEADER, GRID], [PERSONS_HEADER, PERSON], [ZONES_HEADER])
    )
    excel = tmp_path / "excel"
    excel.mkdir()
    write_roster(
        excel,
        [" code , name ,parent_code,households,population,lat,lon", " " + GRID.replace(",", " , ")],
        [
            PERSONS_HEADER,
            ",,,,,,",
            " P1 , 曾永生 , 138 0013 0001 ,, 网格员 , 441523100201001 ,",
            "",
            "",
        ],
        [ZONES_HEADER],
        bom=True,
        newline="\r\n",
    )

    assert load_roster(excel) == plain


def test_not_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    write_roster(tmp_path, [GRIDS_HEADER, GRID], [PERSONS_HEADER])
    (tmp_path / "persons.csv").write_bytes((PERSONS_HEADER + "\n" + PERSON + "\n").encode("gbk"))

    assert check_roster(tmp_path) == [
        "persons.csv:2: not UTF-8 (saved as GBK/ANSI?); save it as 'CSV UTF-8'"
    ]


def test_every_supervisor_cycle_is_reported_once_by_ids(tmp_path: Path) -> None:
    persons = [
        PERSONS_HEADER,
        "A,甲,13800130001,,村书记,,B",  # line 2: A ⇄ B
        "X,戊,13800130002,,网格员,441523100201001,Y",  # line 3: hangs below the Y-Z cycle
        "B,乙,13800130003,,镇值班员,,A",
        "Y,己,13800130004,,村书记,,Z",  # line 5: Y → Z → W → Y
        "Z,庚,13800130005,,包村干部,,W",
        "W,辛,13800130006,,镇值班员,,Y",
        "T,壬,13800130007,,县应急管理局值班员,,",
    ]
    write_roster(tmp_path, [GRIDS_HEADER, GRID], persons)

    assert check_roster(tmp_path) == [
        "persons.csv:2: supervisor chain loops: A → B → A",
        "persons.csv:5: supervisor chain loops: Y → Z → W → Y",
    ]


@pytest.mark.parametrize(
    ("code", "parent", "accepted"),
    [
        ("441523100201001", "", True),
        ("441523100201001", "441523100201", True),  # the village
        ("441523100201001", "441523100", True),  # the township
        ("441523100201001", "441523100000", True),  # the township, zero-padded to 12
        ("441523100201001", "441523", True),
        ("441523100201001001", "441523100201001", True),  # a listed grid containing it
        ("441523100201001", "441523101201", False),  # another village
        ("441523100201001", "4415231", False),  # not an administrative level
        ("441523100201001", "441523100201001", False),  # itself
        ("441523100201002", "441523100201001", False),  # a listed grid, not containing it
    ],
)
def test_parent_code_rule(tmp_path: Path, code: str, parent: str, accepted: bool) -> None:
    grids = [GRIDS_HEADER, GRID, f"{code},某网格,{parent},1,3,,"]
    if code == GRID.split(",")[0]:
        grids = [GRIDS_HEADER, f"{code},某网格,{parent},1,3,,"]
    write_roster(tmp_path, grids, [PERSONS_HEADER, PERSON])

    problems = check_roster(tmp_path)

    assert (problems == []) is accepted, problems
    assert all(problem.startswith("grids.csv:") and "parent" in problem for problem in problems)


def test_grid_codes_are_split_deduplicated_and_checked(tmp_path: Path) -> None:
    grids = [GRIDS_HEADER, GRID, "441523100201002,新田村第二网格,441523100201,10,30,,"]
    persons = [
        PERSONS_HEADER,
        "P1,曾永生,13800130001,,网格员,441523100201001；441523100201002;441523100201001;,",
    ]
    roster = load_roster(write_roster(tmp_path, grids, persons))

    assert roster.persons["P1"].grid_codes == ("441523100201001", "441523100201002")
    assert roster.grids["441523100201002"].location is None
    assert roster.grids["441523100201002"].households == 10


def test_empty_counts_mean_zero(tmp_path: Path) -> None:
    grids = [GRIDS_HEADER, "441523100201001,新田村第一网格,,,,,"]
    roster = load_roster(write_roster(tmp_path, grids, [PERSONS_HEADER, PERSON]))

    grid = roster.grids["441523100201001"]
    assert (grid.households, grid.population, grid.parent_code) == (0, 0, "")


@pytest.mark.parametrize(
    ("code", "prefix"),
    [
        ("440000", "44"),
        ("441500", "4415"),
        ("441523", "441523"),
        ("441523100", "441523100"),
        ("441523100000", "441523100"),
        ("441523000000", "441523"),
        ("441523100201", "441523100201"),
        ("441523100201001", "441523100201001"),
        ("000000", ""),
        ("4415a3", ""),
        ("", ""),
    ],
)
def test_admin_prefix(code: str, prefix: str) -> None:
    assert admin_prefix(code) == prefix
