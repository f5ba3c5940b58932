"""Which waiting work goes first when a provider's rate caps a channel.

A send or a due chain of a higher-level warning goes before any of a lower level; between
warnings of one level, turns in rotation (one lane per warning), so a village's warning
published during a county-wide fan-out of the same level is not queued behind it; within
a warning, first come, first served. The scheduler applies it when it claims due timers
(`shares`), the sender's channel gate when it hands out the next send (`Lanes`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dispatcher.core.model import Level

T = TypeVar("T")


def rank_of(level: str | None) -> int:
    """4 for red down to 1 for blue; 0 (last) for work of no known level."""
    try:
        return Level(level).rank if level else 0
    except ValueError:
        return 0


class Lanes(Generic[T]):
    """Items waiting their turn: the highest rank first, its lanes in rotation, each lane
    in arrival order. A lane that empties leaves the rotation; one that comes (back) joins
    it last, after every lane already waiting has had its turn."""

    def __init__(self) -> None:
        self._ranks: dict[int, OrderedDict[str, deque[T]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, item: T, *, rank: int, lane: str) -> None:
        lanes = self._ranks.setdefault(rank, OrderedDict())
        queue = lanes.get(lane)
        if queue is None:
            queue = lanes[lane] = deque()
        queue.append(item)
        self._size += 1

    def pop(self) -> T:
        """The next item to serve; IndexError when none waits."""
        if not self._size:
            raise IndexError("pop from empty Lanes")
        top = max(self._ranks)
        lanes = self._ranks[top]
        lane, queue = next(iter(lanes.items()))
        item = queue.popleft()
        if queue:
            lanes.move_to_end(lane)
        else:
            del lanes[lane]
            if not lanes:
                del self._ranks[top]
        self._size -= 1
        return item


@dataclass(frozen=True, slots=True)
class DueLane:
    """A warning with due work, and its level's rank."""

    warning_id: str
    rank: int


def shares(room: int, lanes: Sequence[DueLane], turn: int = 0) -> dict[str, int]:
    """One round of a claim of `room` places: split evenly between the lanes of the
    highest rank, the remainder one each to the lanes from position `turn` on (so that a
    remainder does not always favour the same lane); lower ranks get nothing this round.
    A lane given a share that it cannot fill has no more due: the caller drops it and asks
    again with the room left."""
    if room <= 0 or not lanes:
        return {}
    top = max(lane.rank for lane in lanes)
    first = [lane.warning_id for lane in lanes if lane.rank == top]
    each, extra = divmod(room, len(first))
    start = turn % len(first)
    given = {}
    for position, warning_id in enumerate(first):
        bonus = 1 if (position - start) % len(first) < extra else 0
        if each + bonus:
            given[warning_id] = each + bonus
    return given
