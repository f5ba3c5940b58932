"""Area resolution: the right grids, each affected person once, nothing silently dropped."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dispatcher.core.area import Resolution, distance_km, resolve
from dispatcher.core.model import Area, Circle, Point, Polygon
from dispatcher.core.roster import BroadcastZone, Grid, Person, Roster, admin_prefix
from dispatcher.files.roster_dir import load_roster

EXAMPLE = Path(__file__).parents[2] / "examples" / "roster"


@pytest.fixture(scope="module")
def luhe() -> Roster:
    return load_roster(EXAMPLE)


def codes(resolution: Resolution) -> list[str]:
    return [grid.code for grid in resolution.grids]


def targets(resolution: Resolution) -> dict[str, tuple[str, ...]]:
    return {target.person.id: target.grid_codes for target in resolution.recipients}


def box(south: float, west: float, north: float, east: float) -> Polygon:
    """A CAP polygon (lat,lon points, closed) around a lat/lon box."""
    corners = [(south, west), (north, west), (north, east), (south, east), (south, west)]
    return Polygon(tuple(Point(lat, lon) for lat, lon in corners))


SHUICHUN = [  # 水唇镇: five grids in three villages
    "441523101201001",
    "441523101201002",
    "441523101202001",
    "441523101202002",
    "441523101203001",
]


@pytest.mark.parametrize(
    ("geocode", "expected"),
    [
        ("441523101", SHUICHUN),
        ("441523101000", SHUICHUN),  # township as a 12-digit code with trailing zeros
        ("441523101203", ["441523101203001"]),
        ("441523100201", ["441523100201001", "441523100201002", "441523100201003"]),
        ("441581", []),  # 陆丰市, a neighbouring county: not in this roster
        ("000000", []),  # all zeros is no division, not "everywhere"
        ("4415a3", []),
    ],
)
def test_geocode_matches_by_prefix(luhe: Roster, geocode: str, expected: list[str]) -> None:
    assert codes(resolve([Area("区域", geocodes=(geocode,))], luhe)) == expected


@pytest.mark.parametrize("geocode", ["441523", "441523000000", "441500", "440000"])
def test_county_city_and_province_reach_every_grid(luhe: Roster, geocode: str) -> None:
    resolution = resolve([Area("陆河县", geocodes=(geocode,))], luhe)

    assert codes(resolution) == sorted(luhe.grids)
    assert len(resolution.zones) == 14
    assert resolution.unstaffed == ()
    assert resolution.unmatched == ()


def test_person_of_several_grids_answers_only_for_the_affected_ones(luhe: Roster) -> None:
    jixi = resolve([Area("吉溪村", geocodes=("441523101203",))], luhe)
    township = resolve([Area("水唇镇", geocodes=("441523101",))], luhe)

    assert targets(jixi) == {
        "LH-WG-015": ("441523101203001",),  # also covers 螺洞村, which is not affected
        "LH-WG-017": ("441523101203001",),
    }
    assert targets(township)["LH-WG-015"] == ("441523101202002", "441523101203001")
    assert [zone.name for zone in jixi.zones] == ["水唇镇吉溪村应急广播"]


def test_recipients_are_grid_persons_not_their_supervisors(luhe: Roster) -> None:
    resolution = resolve([Area("河田镇", geocodes=("441523100",))], luhe)

    roles = {target.person.role for target in resolution.recipients}
    assert roles == {"网格员", "网格员(A角)", "网格员(B角)", "村书记"}
    # The one secretary among them is 罗洞村's, who is that village's grid person too.
    secretaries = [t for t in resolution.recipients if t.person.role == "村书记"]
    assert [(t.person.id, t.grid_codes) for t in secretaries] == [
        ("LH-100203-SJ", ("441523100203001",))
    ]
    assert [t.person.id for t in resolution.recipients] == sorted(targets(resolution))


def test_areas_are_deduplicated_across_info_blocks(luhe: Roster) -> None:
    zh = Area("陆河县", geocodes=("441523",))
    en = Area("Luhe County", geocodes=("441523",))
    village = Area("吉溪村", geocodes=("441523101203",))

    resolution = resolve([zh, village, en, zh], luhe)

    assert codes(resolution) == sorted(luhe.grids)
    assert len(resolution.recipients) == len({t.person.id for t in resolution.recipients})
    assert resolution == resolve([zh], luhe)


def test_unmatched_areas_are_listed_and_others_still_resolve(luhe: Roster) -> None:
    resolution = resolve(
        [
            Area("陆丰市", geocodes=("441581",)),
            Area("吉溪村", geocodes=("441523101203",)),
            Area("", geocodes=("441599", "441598")),
            Area("海上", circles=(Circle(Point(22.5, 115.5), 5.0),)),
        ],
        luhe,
    )

    assert resolution.unmatched == ("陆丰市", "unnamed area: 441599, 441598", "海上")
    assert codes(resolution) == ["441523101203001"]


def test_polygon_points_are_lat_lon(luhe: Roster) -> None:
    # A 300 m box around 新田村第一网格 (23.30542N 115.64289E), as CAP writes it.
    polygon = box(23.304, 115.641, 23.307, 115.644)

    resolution = resolve([Area("新田村北", polygons=(polygon,))], luhe)

    assert codes(resolution) == ["441523100201001"]
    assert set(targets(resolution)) == {"LH-WG-004"}


def test_grids_without_location_are_only_reached_by_geocode(luhe: Roster) -> None:
    whole_county = box(23.0, 115.4, 23.6, 115.9)

    by_polygon = resolve([Area("陆河县", polygons=(whole_county,))], luhe)
    by_circle = resolve([Area("陆河县", circles=(Circle(Point(23.3, 115.65), 50.0),))], luhe)

    unsurveyed = "441523102204001"
    assert luhe.grids[unsurveyed].location is None
    assert codes(by_polygon) == codes(by_circle) == sorted(set(luhe.grids) - {unsurveyed})


def line_of_grids(count: int, *, staffed: bool = True) -> Roster:
    """Grids due north of 23.30N 115.65E every 0.01° of latitude (about 1.112 km apart)."""
    grids = {
        f"441523100201{n:03d}": Grid(
            f"441523100201{n:03d}",
            f"第{n}网格",
            "441523100201",
            10,
            30,
            Point(23.30 + n / 100, 115.65),
        )
        for n in range(count)
    }
    persons = {
        f"P{n:03d}": Person(
            f"P{n:03d}", f"网格员{n}", None, f"openid{n:04d}", "网格员", (code,), None
        )
        for n, code in enumerate(grids)
        if staffed or n % 2 == 0
    }
    return Roster(grids, persons)


def test_circle_radius_is_kilometres_on_the_ground() -> None:
    roster = line_of_grids(5)

    resolution = resolve([Area("河田", circles=(Circle(Point(23.30, 115.65), 2.3),))], roster)

    # 0, 1.112 and 2.224 km away are in; 3.336 km is not.
    assert codes(resolution) == ["441523100201000", "441523100201001", "441523100201002"]
    just_inside = resolve([Area("河田", circles=(Circle(Point(23.30, 115.65), 2.2245),))], roster)
    assert codes(just_inside) == codes(resolution)


def test_grid_on_the_polygon_edge_is_warned() -> None:
    roster = line_of_grids(3)
    corner = roster.grids["441523100201001"].location
    assert corner is not None

    # The box's south-east corner is grid 1; grid 2 lies on its east edge.
    edge = box(corner.lat, 115.60, 23.40, corner.lon)
    resolution = resolve([Area("边界", polygons=(edge,))], roster)

    assert codes(resolution) == ["441523100201001", "441523100201002"]


def test_self_retracing_and_degenerate_polygons() -> None:
    roster = line_of_grids(3)
    # Drawn by hand: round a square, then once more round its south-west quarter, where
    # grid 1 (23.31N 115.65E) is. Even-odd counting alone would drop that quarter.
    unit = [(0, 0), (2, 0), (2, 2), (0, 2), (0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]
    retraced = Polygon(tuple(Point(23.305 + y / 100, 115.645 + x / 100) for x, y in unit))
    point = Polygon((Point(23.31, 115.65),) * 4)

    resolution = resolve(
        [Area("手绘", polygons=(retraced,)), Area("一点", polygons=(point,))], roster
    )

    assert codes(resolution) == ["441523100201001", "441523100201002"]
    assert resolution.unmatched == ("一点",)


def test_unstaffed_grids_are_shown() -> None:
    roster = line_of_grids(4, staffed=False)

    resolution = resolve([Area("新田村", geocodes=("441523100201",))], roster)

    assert [grid.code for grid in resolution.unstaffed] == ["441523100201001", "441523100201003"]
    assert [t.person.id for t in resolution.recipients] == ["P000", "P002"]


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        (Point(23.3, 115.65), Point(23.3, 115.65), 0.0),
        (Point(0, 0), Point(1, 0), 111.195),
        (Point(0, 0), Point(0, 1), 111.195),
        (Point(0, 0), Point(0, 180), 20015.1),
        (Point(23.3, 115.65), Point(24.3, 115.65), 111.195),
        (Point(39.9042, 116.4074), Point(31.2304, 121.4737), 1067.3),  # 北京 – 上海
    ],
)
def test_distance_km(a: Point, b: Point, km: float) -> None:
    assert distance_km(a, b) == pytest.approx(km, abs=0.1)


# ---- properties over small generated rosters ------------------------------------------

TOWNSHIPS = st.sampled_from(["100", "101", "199"])
VILLAGES = st.sampled_from(["201", "202", "203"])
CODE_PARTS = st.tuples(TOWNSHIPS, VILLAGES, st.sampled_from(["001", "002", "999"]))
locations = st.one_of(
    st.none(),
    st.builds(Point, st.floats(23.2, 23.4), st.floats(115.5, 115.8)),
)


@st.composite
def rosters(draw: st.DrawFn) -> Roster:
    parts = draw(st.lists(CODE_PARTS, min_size=1, max_size=15, unique=True))
    grid_codes = ["441523" + "".join(part) for part in parts]
    grids = {code: Grid(code, code, code[:12], 1, 3, draw(locations)) for code in grid_codes}
    persons = {}
    for n in range(draw(st.integers(0, 12))):
        mine = draw(st.lists(st.sampled_from(grid_codes), max_size=3, unique=True))
        persons[f"P{n:02d}"] = Person(
            f"P{n:02d}", f"人{n}", f"+86138001300{n:02d}", None, "网格员", tuple(mine), None
        )
    # A village's loudspeakers over all of its grids, and a few zones of one grid each.
    villages: dict[str, list[str]] = {}
    for code in grid_codes:
        villages.setdefault(code[:12], []).append(code)
    zones = tuple(
        BroadcastZone(f"V{village}", tuple(sorted(codes)), village)
        for village, codes in villages.items()
        if draw(st.booleans())
    ) + tuple(BroadcastZone(f"Z{code}", (code,), code) for code in grid_codes[::2])
    return Roster(grids, persons, zones)


geocodes = st.one_of(
    st.sampled_from(["441523", "441523000000", "441523101000", "441523103", "440000"]),
    st.sampled_from(["441500", "441599", "000000"]),
    TOWNSHIPS.map(lambda township: "441523" + township),
    st.tuples(TOWNSHIPS, VILLAGES).map(lambda parts: "441523" + "".join(parts)),
)
circles = st.builds(
    Circle, st.builds(Point, st.floats(23.2, 23.4), st.floats(115.5, 115.8)), st.floats(0, 15)
)


@st.composite
def boxes(draw: st.DrawFn) -> Polygon:
    lats = sorted(draw(st.lists(st.floats(23.2, 23.4), min_size=2, max_size=2, unique=True)))
    lons = sorted(draw(st.lists(st.floats(115.5, 115.8), min_size=2, max_size=2, unique=True)))
    return box(lats[0], lons[0], lats[1], lons[1])


areas = st.builds(
    Area,
    st.sampled_from(["甲", "乙", "丙", ""]),
    st.lists(geocodes, max_size=2).map(tuple),
    st.lists(boxes(), max_size=1).map(tuple),
    st.lists(circles, max_size=1).map(tuple),
)


@given(rosters(), st.lists(areas, max_size=3), st.lists(areas, max_size=3))
def test_resolving_a_union_is_the_union_of_resolutions(
    roster: Roster, first: list[Area], second: list[Area]
) -> None:
    both = resolve(first + second, roster)
    one, two = resolve(first, roster), resolve(second, roster)

    assert set(codes(both)) == set(codes(one)) | set(codes(two))
    merged: dict[str, set[str]] = {}
    for target in one.recipients + two.recipients:
        merged.setdefault(target.person.id, set()).update(target.grid_codes)
    assert {pid: set(grid_codes) for pid, grid_codes in targets(both).items()} == merged
    assert set(both.zones) == set(one.zones) | set(two.zones)
    assert set(both.unmatched) == set(one.unmatched) | set(two.unmatched)
    assert resolve(second + first, roster).grids == both.grids


@given(rosters(), st.lists(areas, max_size=4))
def test_every_affected_person_once_for_their_affected_grids(
    roster: Roster, area_list: list[Area]
) -> None:
    resolution = resolve(area_list, roster)
    affected = codes(resolution)

    assert affected == sorted(set(affected))
    ids = [target.person.id for target in resolution.recipients]
    assert ids == sorted(set(ids))
    for target in resolution.recipients:
        assert target.grid_codes
        assert list(target.grid_codes) == sorted(target.grid_codes)
        assert set(target.grid_codes) <= set(affected) & set(target.person.grid_codes)
    for code in affected:
        for person in roster.persons_of_grid(code):
            assert code in targets(resolution)[person.id]
    playing = {zone.zone_id for zone in resolution.zones}
    assert len(playing) == len(resolution.zones), "each zone once"
    assert playing == {
        zone.zone_id for zone in roster.zones if set(zone.grid_codes) & set(affected)
    }, "a zone plays when any of its grids is affected, and only then"


@given(rosters(), geocodes)
def test_geocode_agrees_with_a_plain_scan(roster: Roster, geocode: str) -> None:
    prefix = admin_prefix(geocode)
    expected = sorted(code for code in roster.grids if prefix and code.startswith(prefix))

    assert codes(resolve([Area("x", geocodes=(geocode,))], roster)) == expected


@given(rosters(), boxes())
def test_box_agrees_with_comparing_coordinates(roster: Roster, polygon: Polygon) -> None:
    lats = [point.lat for point in polygon.points]
    lons = [point.lon for point in polygon.points]
    expected = sorted(
        grid.code
        for grid in roster.grids.values()
        if grid.location
        and min(lats) <= grid.location.lat <= max(lats)
        and min(lons) <= grid.location.lon <= max(lons)
    )

    assert codes(resolve([Area("x", polygons=(polygon,))], roster)) == expected


@given(rosters(), circles)
def test_circle_agrees_with_distance_km(roster: Roster, circle: Circle) -> None:
    located = [grid for grid in roster.grids.values() if grid.location]
    distances = {
        grid.code: distance_km(circle.center, grid.location) for grid in located if grid.location
    }
    assume(all(not math.isclose(d, circle.radius_km, abs_tol=1e-6) for d in distances.values()))
    expected = sorted(code for code, d in distances.items() if d <= circle.radius_km)

    assert codes(resolve([Area("x", circles=(circle,))], roster)) == expected


# ---- a county-sized roster -------------------------------------------------------------


def county_roster(grid_count: int = 20_000, person_count: int = 50_000) -> Roster:
    """20 townships × 50 villages × 20 grids, 2–3 grid persons each, plus their chain."""
    grids: dict[str, Grid] = {}
    for n in range(grid_count):
        township, village, grid = 100 + n // 1000, 201 + n // 20 % 50, 1 + n % 20
        code = f"441523{township}{village}{grid:03d}"
        location = Point(23.1 + (n % 200) / 500, 115.4 + (n // 200) / 250)
        grids[code] = Grid(code, f"网格{n}", code[:12], 100, 350, location)
    persons: dict[str, Person] = {
        "county": Person(
            "county", "县值班员", "+8613900130000", None, "县应急管理局值班员", (), None
        )
    }
    grid_codes = list(grids)
    for n in range(person_count):
        code = grid_codes[n % grid_count]
        supervisor = "S" + code[:12]
        persons[f"W{n:05d}"] = Person(
            f"W{n:05d}", f"网格员{n}", f"+86138{n:08d}", None, "网格员", (code,), supervisor
        )
        persons.setdefault(
            supervisor, Person(supervisor, "村书记", "+8613900130001", None, "村书记", (), "county")
        )
    return Roster(grids, persons)


@pytest.fixture(scope="module")
def county() -> Roster:
    return county_roster()


def test_county_wide_geocode_reaches_every_grid_person_of_a_large_roster(county: Roster) -> None:
    # Speed is the benchmark's business (make bench); this checks the indexed path is right.
    resolution = resolve([Area("陆河县", geocodes=("441523",))], county)

    assert len(resolution.grids) == 20_000
    assert len(resolution.recipients) == 50_000


def test_polygon_and_circle_on_a_large_roster_match_only_their_part(county: Roster) -> None:
    area = Area(
        "河田镇以南",
        polygons=(box(23.0, 115.0, 23.3, 116.0),),
        circles=(Circle(Point(23.3, 115.6), 10),),
    )
    resolution = resolve([area], county)

    assert 0 < len(resolution.grids) < 20_000
