"""Naming the townships and villages above a warning's grids (`place_names`)."""

from __future__ import annotations

import pytest

from dispatcher.core.roster import Grid, Roster
from dispatcher.store.place_views import common_village_name, place_names


def grid(code: str, name: str) -> Grid:
    return Grid(code, name, code[:12], 100, 300, None)


@pytest.mark.parametrize(
    ("names", "village"),
    [
        (["新田村第一网格", "新田村第二网格", "新田村第三网格"], "新田村"),
        (["人民社区第1网格"], "人民社区"),
        (["南告村第十二网格", "南告村第二网格"], "南告村"),
        (["新田村第一网格", "高潭村第一网格"], None),  # two villages: no common name
        (["石门村"], None),  # not "<village>第N网格"
        (["第一网格"], None),  # nothing before the number
        (["新田村第一网格", "新田村片区"], None),
        ([], None),
    ],
)
def test_a_village_is_named_by_what_its_grids_names_share(
    names: list[str], village: str | None
) -> None:
    assert common_village_name(names) == village


def test_the_roster_names_first_then_the_warning_s_areas_then_the_grids() -> None:
    roster = Roster(
        grids={
            "441523100": Grid("441523100", "河田镇", "441523", 0, 0, None),
            "441523100201": Grid("441523100201", "新田村委会", "441523100", 0, 0, None),
            "441523100201001": grid("441523100201001", "新田村第一网格"),
            "441523100202001": grid("441523100202001", "高潭村第一网格"),
            "441523101203001": grid("441523101203001", "吉溪片"),
        },
        persons={},
    )
    areas = {"441523100": "陆河县河田镇（预警）", "441523101": "陆河县水唇镇"}
    codes = ["441523101203001", "441523100201001", "441523100202001", "441523100202001"]

    places = place_names(roster, codes, areas)

    assert places == [
        {"code": "441523100", "kind": "township", "name": "河田镇"},  # the roster's row
        {"code": "441523100201", "kind": "village", "name": "新田村委会"},
        {"code": "441523100202", "kind": "village", "name": "高潭村"},  # from its grid
        {"code": "441523101", "kind": "township", "name": "陆河县水唇镇"},  # the warning's area
        {"code": "441523101203", "kind": "village", "name": None},  # nobody names it
    ]


def test_short_codes_have_no_place_above_them() -> None:
    roster = Roster(grids={"441523100": Grid("441523100", "河田镇", "", 0, 0, None)}, persons={})
    assert place_names(roster, ["441523100"], {}) == []
    assert place_names(roster, ["4415231002"], {}) == [
        {"code": "441523100", "kind": "township", "name": "河田镇"}
    ]
