"""鸣锣吹哨: when the power or the network is down, a village sounds the gong and the
whistle. A field task like the door-knock, assigned to the village secretary of the
grids it is about: from a policy step (`task: gong`), or when every play of a
loudspeaker zone has failed for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dispatcher.core.roster import Person, Roster
from dispatcher.core.roster_zones import BroadcastZone

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
OCCASION_LENGTH = 32  # the tasks' and summons' occasion column
_DIGEST_BYTES = 4


def zone_task_occasion(zone_id: str) -> str:
    """The occasion of the gong task a silenced zone gets: one per zone and warning.

    An id too long for the column keeps its beginning and a digest of the whole id: cut
    alone, two zones whose ids begin alike would share one task and one secretary's call.
    """
    occasion = ZONE_OCCASION + zone_id
    if len(occasion) <= OCCASION_LENGTH:
        return occasion
    digest = hashlib.blake2s(zone_id.encode(), digest_size=_DIGEST_BYTES).hexdigest()
    return f"{occasion[: OCCASION_LENGTH - len(digest) - 1]}~{digest}"


def is_zone_occasion(occasion: str) -> bool:
    """Whether a task with `occasion` was opened for a silenced zone (not a policy step)."""
    return occasion.startswith(ZONE_OCCASION)


def occasion_zone(occasion: str, roster: Roster) -> BroadcastZone | None:
    """The zone of `roster` a gong task with `occasion` was opened for; None for a task a
    policy step opened, or a zone the roster no longer lists."""
    if not is_zone_occasion(occasion):
        return None
    zone = roster.zone(occasion.removeprefix(ZONE_OCCASION))
    if zone is not None:
        return zone
    return next((z for z in roster.zones if zone_task_occasion(z.zone_id) == occasion), None)


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
