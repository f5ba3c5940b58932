"""A gong task opened for a silenced zone names its zone through its occasion, however
long the roster's zone id; a task a policy step opened names none."""

from __future__ import annotations

import pytest

from dispatcher.core.gong import OCCASION_LENGTH, occasion_zone, zone_task_occasion
from dispatcher.core.roster import Grid, Roster
from dispatcher.core.roster_zones import BroadcastZone

GRID = "441523101201001"
# Real platforms' ids: a 20-digit resource code; a county's own code; two long ids that
# begin alike, as a county writes them for two loudspeaker groups of one village.
ZONE_IDS = (
    "441523101201",
    "44152310120103140102",
    "LHDK-XU-01",
    "LUHE-HETIAN-XINTIAN-VILLAGE-SQUARE-GROUP-1",
    "LUHE-HETIAN-XINTIAN-VILLAGE-SQUARE-GROUP-2",
)


@pytest.fixture
def roster() -> Roster:
    grids = {GRID: Grid(GRID, "新田村第一网格", GRID[:12], 1, 3, None)}
    zones = tuple(BroadcastZone(zone_id, (GRID,), f"广播{n}") for n, zone_id in enumerate(ZONE_IDS))
    return Roster(grids, {}, zones)


@pytest.mark.parametrize("zone_id", ZONE_IDS)
def test_a_zone_s_task_occasion_gives_back_its_zone(zone_id: str, roster: Roster) -> None:
    occasion = zone_task_occasion(zone_id)
    assert len(occasion) <= OCCASION_LENGTH  # it fits the tasks' column
    zone = occasion_zone(occasion, roster)
    assert zone is not None and zone.zone_id == zone_id


def test_zones_whose_long_ids_begin_alike_get_a_task_each() -> None:
    assert zone_task_occasion(ZONE_IDS[3]) != zone_task_occasion(ZONE_IDS[4])


@pytest.mark.parametrize("occasion", ["c1s4", "c12s3", "", "zone"])
def test_a_step_s_task_names_no_zone(occasion: str, roster: Roster) -> None:
    assert occasion_zone(occasion, roster) is None


def test_a_zone_the_roster_no_longer_lists_is_none(roster: Roster) -> None:
    assert occasion_zone(zone_task_occasion("441523999999"), roster) is None
