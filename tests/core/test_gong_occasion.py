"""A gong task opened for a silenced zone names its zone through its occasion; a task a
policy step opened names none."""

from __future__ import annotations

import pytest

from dispatcher.core.gong import occasion_zone, zone_task_occasion


@pytest.mark.parametrize("zone_id", ["441523101201", "44152310020103140102", "LHDK-XU-01"])
def test_a_zone_s_task_occasion_gives_back_its_zone(zone_id: str) -> None:
    assert occasion_zone(zone_task_occasion(zone_id)) == zone_id


@pytest.mark.parametrize("occasion", ["c1s4", "c12s3", "", "zone"])
def test_a_step_s_task_names_no_zone(occasion: str) -> None:
    assert occasion_zone(occasion) is None
