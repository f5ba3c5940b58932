"""Area resolution: from a warning's areas to the grids they cover and who answers for them.

An area matches a grid when any of its parts does (CAP describes one area by geocodes,
polygons and circles together; warning too many beats missing one):

- a geocode (administrative code, GB/T 2260 plus township and village levels) matches
  every grid whose code starts with the code's prefix after its trailing all-zero
  levels are dropped (`441500` → every grid of 汕尾市);
- a polygon matches the grids whose location lies inside it or on its edge;
- a circle matches the grids whose location is within `radius_km` along the earth's
  surface;
- a geocode of another scheme (UGC, FIPS6, a basin code), or the area's description,
  matches through the roster's area aliases the grids their codes match.

Grids without a location are matched by geocode only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from dispatcher.core.model import Area, Circle, Point, Polygon
from dispatcher.core.roster import BroadcastZone, Grid, Person, Roster, admin_prefix
from dispatcher.core.roster_aliases import AREA_DESC

__all__ = ["EARTH_RADIUS_KM", "Resolution", "Target", "describe_area", "distance_km", "resolve"]

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Target:
    """A person to reach, with the affected grids they answer for (not their others)."""

    person: Person
    grid_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who and what a warning's areas reach in the roster.

    `grids` is sorted by code, `recipients` by person id, `zones` by zone id; each
    appears once. `unmatched` describes the areas that matched no grid at all;
    `aliased` says which of the roster's area aliases placed an area
    (`UGC TXC157 → 441523100`).
    """

    grids: tuple[Grid, ...]
    recipients: tuple[Target, ...]
    zones: tuple[BroadcastZone, ...]
    unmatched: tuple[str, ...]
    aliased: tuple[str, ...] = ()

    @property
    def unstaffed(self) -> tuple[Grid, ...]:
        """Affected grids that no person answers for: nobody will be called about them."""
        staffed = {code for target in self.recipients for code in target.grid_codes}
        return tuple(grid for grid in self.grids if grid.code not in staffed)


def distance_km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance between two points, in kilometres."""
    lat_a, lat_b = math.radians(a.lat), math.radians(b.lat)
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = math.radians(b.lon - a.lon) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0)))


def resolve(areas: Iterable[Area], roster: Roster) -> Resolution:
    """Resolve `areas` (of one or several info blocks) against `roster`.

    Areas repeated across info blocks count once; a grid matched by several areas is
    affected once. Never raises for odd areas: one that matches nothing (an unknown
    code, a degenerate polygon) is listed in `unmatched`.
    """
    unique = tuple(dict.fromkeys(areas))
    located = _Located.of(roster) if any(a.polygons or a.circles for a in unique) else None
    affected: set[str] = set()
    unmatched: dict[str, None] = {}
    aliased: dict[str, None] = {}
    for area in unique:
        codes = _match(area, roster, located)
        for name, value, code in _aliases(area, roster):
            aliased[f"{name} {value} → {code}"] = None
            codes |= {grid.code for grid in roster.grids_under(admin_prefix(code))}
        if not codes:
            unmatched[describe_area(area)] = None
        affected |= codes
    grids = tuple(roster.grids[code] for code in sorted(affected))
    answers_for: dict[str, list[str]] = {}
    for grid in grids:
        for person in roster.persons_of_grid(grid.code):
            answers_for.setdefault(person.id, []).append(grid.code)
    recipients = tuple(
        Target(roster.persons[person_id], tuple(codes))
        for person_id, codes in sorted(answers_for.items())
    )
    zones = roster.zones_of_grids(grid.code for grid in grids)
    return Resolution(grids, recipients, zones, tuple(unmatched), tuple(aliased))


@dataclass(frozen=True, slots=True)
class _Located:
    """The grids that have a location, as arrays for vectorised geometry tests."""

    codes: tuple[str, ...]
    lats: FloatArray
    lons: FloatArray

    @classmethod
    def of(cls, roster: Roster) -> _Located:
        located = [(g.code, g.location) for g in roster.grids.values() if g.location is not None]
        lats = np.fromiter((point.lat for _, point in located), float, len(located))
        lons = np.fromiter((point.lon for _, point in located), float, len(located))
        return cls(tuple(code for code, _ in located), lats, lons)

    def codes_where(self, mask: BoolArray) -> set[str]:
        return {self.codes[index] for index in np.flatnonzero(mask)}


def _match(area: Area, roster: Roster, located: _Located | None) -> set[str]:
    codes = {
        grid.code for geocode in area.geocodes for grid in roster.grids_under(admin_prefix(geocode))
    }
    if located is None or not located.codes:
        return codes
    for polygon in area.polygons:
        geometry = _geometry(polygon)
        if geometry is not None:
            codes |= located.codes_where(
                shapely.intersects_xy(geometry, located.lons, located.lats)
            )
    for circle in area.circles:
        codes |= located.codes_where(_within(circle, located.lats, located.lons))
    return codes


def _geometry(polygon: Polygon) -> shapely.Geometry | None:
    """The polygon as a prepared shapely geometry, or None if it encloses nothing."""
    if len(set(polygon.points)) < 3:
        return None
    # CAP lists points as lat,lon; shapely's x is the longitude.
    geometry = shapely.Polygon([(point.lon, point.lat) for point in polygon.points])
    if not geometry.is_valid:
        # A hand-drawn ring that crosses or retraces itself still means all it outlines;
        # point-in-polygon on the raw ring would drop the parts it covers twice.
        geometry = shapely.make_valid(geometry)
    shapely.prepare(geometry)
    return geometry


def _within(circle: Circle, lats: FloatArray, lons: FloatArray) -> BoolArray:
    """Which of the points lie within the circle: the haversine of `distance_km`, vectorised."""
    lat0 = math.radians(circle.center.lat)
    lat = np.radians(lats)
    half_dlat = (lat - lat0) / 2
    half_dlon = np.radians(lons - circle.center.lon) / 2
    h = np.sin(half_dlat) ** 2 + math.cos(lat0) * np.cos(lat) * np.sin(half_dlon) ** 2
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    within: BoolArray = distance <= circle.radius_km
    return within


def _aliases(area: Area, roster: Roster) -> Iterable[tuple[str, str, str]]:
    """(valueName, value, code) of each alias of the roster that places `area`."""
    if not roster.aliases:
        return
    for name, value in (*area.other_geocodes, (AREA_DESC, area.description)):
        for code in roster.alias_codes(name, value):
            yield name, value, code


def describe_area(area: Area) -> str:
    """The area as a duty officer names it: its description, else its codes."""
    if area.description.strip():
        return area.description.strip()
    parts: Sequence[str] = area.geocodes or [
        f"{len(area.polygons)} polygon(s), {len(area.circles)} circle(s)"
    ]
    return "unnamed area: " + ", ".join(parts)
