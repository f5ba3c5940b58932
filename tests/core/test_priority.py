"""Who goes first under a provider's rate cap: red before blue, warnings of a level in turn."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.priority import DueLane, Lanes, rank_of, shares

COUNTY = "w-county-blue-rainstorm"  # a county-wide blue fan-out, 20,000 persons
VILLAGE = "w-xiaba-red-landslide"  # a red warning to one village, published mid-way
TOWN = "w-dongxiang-blue-wind"  # another blue warning, for one town


@pytest.mark.parametrize(
    ("level", "rank"),
    [("red", 4), ("orange", 3), ("yellow", 2), ("blue", 1), ("", 0), ("purple", 0), (None, 0)],
)
def test_rank_of_a_level(level: str | None, rank: int) -> None:
    assert rank_of(level) == rank


def test_a_red_send_goes_before_the_blue_ones_already_waiting() -> None:
    lanes: Lanes[str] = Lanes()
    for n in range(5):
        lanes.push(f"blue-{n}", rank=1, lane=COUNTY)
    lanes.push("red-0", rank=4, lane=VILLAGE)
    lanes.push("red-1", rank=4, lane=VILLAGE)
    assert [lanes.pop() for _ in range(7)] == [
        "red-0",
        "red-1",
        "blue-0",
        "blue-1",
        "blue-2",
        "blue-3",
        "blue-4",
    ]


def test_a_newer_warning_of_the_same_level_takes_turns_with_the_county_fan_out() -> None:
    lanes: Lanes[str] = Lanes()
    for n in range(4):
        lanes.push(f"county-{n}", rank=1, lane=COUNTY)
    lanes.push("town-0", rank=1, lane=TOWN)
    lanes.push("town-1", rank=1, lane=TOWN)
    order = [lanes.pop() for _ in range(6)]
    assert order == ["county-0", "town-0", "county-1", "town-1", "county-2", "county-3"]
    assert len(lanes) == 0
    with pytest.raises(IndexError):
        lanes.pop()


@pytest.mark.parametrize(
    ("room", "lanes", "turn", "expected"),
    [
        # Red takes the whole room while it has due work; blue waits.
        (100, [DueLane(COUNTY, 1), DueLane(VILLAGE, 4)], 0, {VILLAGE: 100}),
        # Two blue warnings share; the remainder goes round with the turn.
        (101, [DueLane(COUNTY, 1), DueLane(TOWN, 1)], 0, {COUNTY: 51, TOWN: 50}),
        (101, [DueLane(COUNTY, 1), DueLane(TOWN, 1)], 1, {COUNTY: 50, TOWN: 51}),
        # Less room than lanes: one place each from the turn on.
        (1, [DueLane(COUNTY, 1), DueLane(TOWN, 1)], 1, {TOWN: 1}),
        (0, [DueLane(COUNTY, 1)], 0, {}),
        (10, [], 0, {}),
    ],
)
def test_shares_of_a_claim(
    room: int, lanes: list[DueLane], turn: int, expected: dict[str, int]
) -> None:
    assert shares(room, lanes, turn) == expected


items = st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["a", "b", "c", "d"])), max_size=60)


@given(items)
def test_lanes_lose_nothing_and_never_serve_a_lower_rank_while_a_higher_waits(
    pushed: list[tuple[int, str]],
) -> None:
    lanes: Lanes[tuple[int, int, str]] = Lanes()
    for n, (rank, lane) in enumerate(pushed):
        lanes.push((n, rank, lane), rank=rank, lane=lane)
    served = [lanes.pop() for _ in range(len(pushed))]
    assert sorted(served) == [(n, r, lane) for n, (r, lane) in enumerate(pushed)]
    ranks = [rank for _, rank, _ in served]
    assert ranks == sorted(ranks, reverse=True)
    for rank, lane in set(pushed):  # first come, first served within a lane of a rank
        of_lane = [n for n, r, name in served if (r, name) == (rank, lane)]
        assert of_lane == sorted(of_lane)


@given(items)
def test_lanes_of_one_rank_alternate_while_both_wait(pushed: list[tuple[int, str]]) -> None:
    lanes: Lanes[str] = Lanes()
    for _, lane in pushed:
        lanes.push(lane, rank=1, lane=lane)
    left = Counter(lane for _, lane in pushed)
    served = []
    while len(lanes):
        waiting = {lane for lane, count in left.items() if count}
        # Within one round every waiting lane is served once before any is served twice.
        this_round = [lanes.pop() for _ in range(len(waiting))]
        assert set(this_round) == waiting
        left.subtract(this_round)
        served.extend(this_round)
    assert Counter(served) == Counter(lane for _, lane in pushed)


@given(
    st.integers(0, 500),
    st.lists(st.integers(1, 4), max_size=8),
    st.integers(0, 20),
)
def test_shares_fill_the_room_from_the_highest_rank_only(
    room: int, ranks: list[int], turn: int
) -> None:
    lanes = [DueLane(f"w{n}", rank) for n, rank in enumerate(ranks)]
    given_ = shares(room, lanes, turn)
    if not lanes:
        assert given_ == {}
        return
    top = max(ranks)
    assert sum(given_.values()) == room
    assert all(lane.rank == top for lane in lanes if lane.warning_id in given_)
    counts = [given_.get(lane.warning_id, 0) for lane in lanes if lane.rank == top]
    assert max(counts) - min(counts) <= 1  # even between warnings of the top level
