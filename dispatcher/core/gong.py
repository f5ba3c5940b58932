"""鸣锣吹哨: when the power or the network is down, a village sounds the gong and the
whistle. A field task like the door-knock, assigned to the village secretary of the
grids it is about: from a policy step (`task: gong`), or when every play of a
loudspeaker zone has failed for good.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatcher.core.roster import Person, Roster

GONG = "gong"
SECRETARY_ROLES = (
    "村支书",
    "村书记",
    "社区书记",
    "村党支部书记",
    "村委会主任",
    "村主任",
    "居委会主任",
)
"""How rosters name a village's secretary or head (examples/roster/persons.csv)."""


ZONE_OCCASION = "zone:"


def zone_task_occasion(zone_id: str) -> str:
    """The occasion of the gong task a silenced zone gets: one per zone and warning."""
    return f"{ZONE_OCCASION}{zone_id}"[:32]


def occasion_zone(occasion: str) -> str | None:
    """The zone a task with `occasion` was opened for (its id as the occasion keeps it:
    cut at 32 characters); None for a task a policy step opened."""
    return occasion.removeprefix(ZONE_OCCASION) if occasion.startswith(ZONE_OCCASION) else None


def is_secretary(person: Person) -> bool:
    return any(role in person.role for role in SECRETARY_ROLES)


def village_secretary(roster: Roster, grid_codes: Iterable[str]) -> Person | None:
    """Who sounds the gong for `grid_codes`: the nearest secretary up the chain of their
    grid persons (or a secretary who is a grid person there), else the first grid
    person's own supervisor; None when the grids have nobody."""
    fallback: Person | None = None
    for code in sorted(grid_codes):
        for person in roster.persons_of_grid(code):
            if is_secretary(person):
                return person
            chain = roster.supervisor_chain(person.id)
            for supervisor in chain:
                if is_secretary(supervisor):
                    return supervisor
            if fallback is None and chain:
                fallback = chain[0]
    return fallback
