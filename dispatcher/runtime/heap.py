"""The garbage collector, told what a started service looks like.

Startup leaves a large heap that lives as long as the process: the roster in force (a
county's is hundreds of thousands of objects, a province's millions), the parsed policy
and templates, SQLAlchemy's compiled statements, every imported module. CPython's cyclic
collector walks all of it on each full collection, and at its default thresholds
(700, 10, 10) a busy fan-out triggers one every second or so: work that grows with the
roster, not with the traffic, and in a large fan-out a sizeable share of the service's
CPU.

`settle_heap()`, run once the service has started, moves that heap into the permanent
generation (`gc.freeze()`): nothing in it becomes garbage while the service runs, so
nothing is lost by never walking it again. It also raises the first threshold, so that
most of a request's or a send's short-lived objects die by reference count before the
collector looks at them. Reference cycles made later are still collected.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "settle_heap"]

# The first generation is collected after this many net allocations of tracked objects
# (CPython's default is 700); the older two keep CPython's ratios.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_heap() -> int:
    """Collect what startup left as garbage, freeze the rest, raise the first threshold;
    returns how many objects are frozen.

    Call it once, after the roster is loaded and the application has started: objects
    alive at that moment are never collected as cycles afterwards."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return gc.get_freeze_count()
