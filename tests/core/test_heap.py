"""The collector after startup: the startup heap frozen, later cycles still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from dispatcher.runtime.heap import GC_THRESHOLDS, settle_heap


class Node:
    """A container the collector tracks; two of them can form a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


def tracked(node: Node) -> bool:
    """Whether any generation the collector walks holds `node` (frozen ones are in none)."""
    return any(item is node for item in gc.get_objects())


@pytest.fixture
def settled() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_what_startup_left_alive_is_never_walked_again(settled: None) -> None:
    roster_part = Node()
    assert tracked(roster_part)
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count() > 0
    assert not tracked(roster_part)
    assert gc.get_threshold() == GC_THRESHOLDS


def test_startup_garbage_is_collected_before_the_freeze(settled: None) -> None:
    node, ref = cycle()
    del node
    settle_heap()
    assert ref() is None, "a cycle dropped before the freeze was frozen instead of freed"


def test_cycles_made_after_the_freeze_are_still_collected(settled: None) -> None:
    settle_heap()
    node, ref = cycle()
    assert tracked(node)
    del node
    gc.collect()
    assert ref() is None
