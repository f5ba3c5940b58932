"""The roster (网格名册): grids, the persons who answer for them, and broadcast zones.

Townships keep the roster as CSV files edited in spreadsheets, or as one Excel workbook
with a sheet per table (DESIGN.md, "Roster"). `build_roster` validates their rows
all-or-nothing: every problem in every table is reported at once as `file:line: reason`
(`sheet!row: reason` for a workbook), and a roster with any problem is not built.
Reading the files is `dispatcher.files`'; everything here is pure.

Rules the contract leaves open, decided here:

- A grid code is ASCII digits, at least 6 (an administrative code, usually the 12-digit
  village code, optionally followed by a grid number).
- `parent_code` is empty, or a proper prefix of the grid's own code that is either a
  grid listed in grids.csv or an administrative code (6, 9 or 12 digits, zero-padded
  forms such as `441523100000` accepted). Requiring a prefix keeps the hierarchy that
  geocode matching relies on and makes parent cycles impossible.
- Empty households/population mean 0. Names of grids, persons and zones must not be
  empty; `role` is free text and may be.
- `grid_codes` may be separated by `;` or the full-width `；`; a person with no grid
  (a township or county duty officer) is only reached by escalation.
- `wechat_openid` is 6-64 of `A-Z a-z 0-9 - _`. Two persons may share a phone number
  (one official listed in two roles).
- A problem about a whole file that has no line (a missing file) reads `file: reason`.
- Persons are read by `roster_persons`; loudspeaker zones, which repeat with each grid
  they cover, by `roster_zones`; area aliases (optional) by `roster_aliases`.
"""

from __future__ import annotations

import math
import re
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dispatcher.core.model import Point
from dispatcher.core.roster_aliases import AREA_DESC, AreaAlias, alias_key, parse_aliases
from dispatcher.core.roster_persons import Person, first_seen, parse_persons
from dispatcher.core.roster_zones import BroadcastZone, parse_zones

__all__ = [
    "AreaAlias",
    "BroadcastZone",
    "Grid",
    "Person",
    "Report",
    "Roster",
    "RosterProblems",
    "Row",
    "admin_prefix",
    "build_roster",
]

GRIDS_FILE = "grids.csv"
PERSONS_FILE = "persons.csv"
ZONES_FILE = "broadcast_zones.csv"
ALIASES_FILE = "area_aliases.csv"
GRID_COLUMNS = ("code", "name", "parent_code", "households", "population", "lat", "lon")
PERSON_COLUMNS = ("id", "name", "phone", "wechat_openid", "role", "grid_codes", "supervisor_id")
ZONE_COLUMNS = ("zone_id", "grid_code", "name")
ALIAS_COLUMNS = ("value_name", "value", "code")

# Province(2) city(2) county(2) township(3) village(3), GB/T 2260 and its extensions.
_ADMIN_BOUNDARIES = (2, 4, 6, 9, 12)
_ADMIN_LENGTHS = frozenset({6, 9, 12})
_GRID_CODE = re.compile(r"[0-9]{6,}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_EXCEL_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]+", re.IGNORECASE)
_GRID_SEPARATORS = re.compile(r"[;；]")


def admin_prefix(code: str) -> str:
    """Return the matching prefix of an administrative code: trailing all-zero levels go.

    `440000` → `44`, `441500` → `4415`, `441523100000` → `441523100`. A code longer than
    12 digits (a grid code) is returned whole. Returns "" for anything that is not a
    code of a real division (non-digits, all zeros), which matches nothing.
    """
    code = code.strip()
    if not code.isascii() or not code.isdigit():
        return ""
    if len(code) > 12:
        return code
    end = len(code)
    for start in reversed([b for b in (0, *_ADMIN_BOUNDARIES) if b < len(code)]):
        if code[start:end].strip("0"):
            break
        end = start
    return code[:end]


@dataclass(frozen=True, slots=True)
class Grid:
    """One grid (网格): the smallest area someone answers for."""

    code: str
    name: str
    parent_code: str
    households: int
    population: int
    location: Point | None


@dataclass(frozen=True)
class Roster:
    """The roster, with the indexes area resolution needs built once.

    `load_roster` validates what it builds; a roster built by hand (as tests do) is not.
    """

    grids: Mapping[str, Grid]
    persons: Mapping[str, Person]
    zones: tuple[BroadcastZone, ...] = ()
    aliases: tuple[AreaAlias, ...] = ()
    _codes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _by_grid: Mapping[str, tuple[Person, ...]] = field(init=False, repr=False, compare=False)
    _zones_by_grid: Mapping[str, tuple[BroadcastZone, ...]] = field(
        init=False, repr=False, compare=False
    )
    _by_phone: Mapping[str, tuple[Person, ...]] = field(init=False, repr=False, compare=False)
    _zones: Mapping[str, BroadcastZone] = field(init=False, repr=False, compare=False)
    _aliases: Mapping[tuple[str, str], tuple[str, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_grid: dict[str, list[Person]] = {}
        by_phone: dict[str, list[Person]] = {}
        for person in sorted(self.persons.values(), key=lambda person: person.id):
            for code in person.grid_codes:
                by_grid.setdefault(code, []).append(person)
            if person.phone:
                by_phone.setdefault(person.phone, []).append(person)
        zones_by_grid: dict[str, list[BroadcastZone]] = {}
        for zone in sorted(self.zones, key=lambda zone: zone.zone_id):
            for code in zone.grid_codes:
                zones_by_grid.setdefault(code, []).append(zone)
        object.__setattr__(self, "_codes", tuple(sorted(self.grids)))
        object.__setattr__(self, "_by_grid", {k: tuple(v) for k, v in by_grid.items()})
        object.__setattr__(self, "_zones_by_grid", {k: tuple(v) for k, v in zones_by_grid.items()})
        object.__setattr__(self, "_by_phone", {k: tuple(v) for k, v in by_phone.items()})
        object.__setattr__(self, "_zones", {zone.zone_id: zone for zone in self.zones})
        aliases: dict[tuple[str, str], list[str]] = {}
        for alias in self.aliases:
            aliases.setdefault(alias_key(alias.value_name, alias.value), []).append(alias.code)
        object.__setattr__(self, "_aliases", {k: tuple(v) for k, v in aliases.items()})

    def grids_under(self, prefix: str) -> tuple[Grid, ...]:
        """Every grid whose code starts with `prefix`, sorted by code ("" gives none)."""
        if not prefix:
            return ()
        start = bisect_left(self._codes, prefix)
        # Codes are digits, and ':' sorts right after '9': the end of the prefix's range.
        end = bisect_left(self._codes, prefix + ":", lo=start)
        return tuple(self.grids[code] for code in self._codes[start:end])

    def name_of(self, person_id: str | None) -> str | None:
        """The person's name; None for an id this roster does not list (an operator's
        token name, a person a later roster dropped) or for no id."""
        person = self.persons.get(person_id) if person_id else None
        return person.name if person else None

    def persons_of_grid(self, code: str) -> tuple[Person, ...]:
        """The persons who answer for grid `code`, sorted by id (none for unknown codes)."""
        return self._by_grid.get(code, ())

    def persons_with_phone(self, phone: str) -> tuple[Person, ...]:
        """The persons whose number is `phone` (E.164), sorted by id: none, one, or several
        (one official listed in two roles)."""
        return self._by_phone.get(phone, ())

    def zones_of_grids(self, codes: Iterable[str]) -> tuple[BroadcastZone, ...]:
        """The broadcast zones of the given grids, each once however many of its grids are
        given, sorted by zone id."""
        found = {zone.zone_id: zone for code in codes for zone in self._zones_by_grid.get(code, ())}
        return tuple(found[zone_id] for zone_id in sorted(found))

    def alias_codes(self, value_name: str, value: str) -> tuple[str, ...]:
        """The roster's codes a geocode of another scheme stands for, by `area_aliases`;
        `value_name` `areaDesc` looks up an area's description. None known: ()."""
        return self._aliases.get(alias_key(value_name, value), ())

    def description_codes(self, description: str) -> tuple[str, ...]:
        """The roster's codes an area's description alone stands for (`areaDesc` aliases)."""
        return self.alias_codes(AREA_DESC, description)

    def zone(self, zone_id: str) -> BroadcastZone | None:
        """The zone `zone_id`; None for an id this roster does not list."""
        return self._zones.get(zone_id)

    def supervisor_chain(self, person_id: str) -> tuple[Person, ...]:
        """The supervisors of `person_id`, nearest first, without the person.

        Raises KeyError for an unknown person. A chain that reaches an unknown id or
        comes back on itself (only possible in a roster built by hand) stops there.
        """
        seen = {person_id}
        chain: list[Person] = []
        supervisor_id = self.persons[person_id].supervisor_id
        while supervisor_id and supervisor_id not in seen and supervisor_id in self.persons:
            seen.add(supervisor_id)
            supervisor = self.persons[supervisor_id]
            chain.append(supervisor)
            supervisor_id = supervisor.supervisor_id
        return tuple(chain)


Row = tuple[int, dict[str, str]]  # (physical line, cells by column)
Report = Callable[[int, str], None]  # (line, reason); line 0: the file as a whole

_FILE_ORDER = {GRIDS_FILE: 0, PERSONS_FILE: 1, ZONES_FILE: 2, ALIASES_FILE: 3}


class RosterProblems:
    """Every problem found in the roster's tables, reported as `file:line: reason`, or as
    `sheet!row: reason` for a workbook (`sheets=True`; a sheet is named as its file
    without `.csv`)."""

    def __init__(self, *, sheets: bool = False) -> None:
        self.items: list[tuple[str, int, str]] = []
        self.sheets = sheets

    def of(self, file: str) -> Report:
        """The report function for one file's problems."""
        return lambda line, reason: self.items.append((file, line, reason))

    def name(self, file: str) -> str:
        """How a problem names the table of `file`: the file, or `sheet NAME`."""
        return f"sheet {sheet_name(file)}" if self.sheets else file

    def formatted(self) -> list[str]:
        items = sorted(self.items, key=lambda item: (_FILE_ORDER[item[0]], item[1]))
        if self.sheets:
            return [
                f"{sheet_name(file)}!{line}: {why}" if line else f"{sheet_name(file)}: {why}"
                for file, line, why in items
            ]
        return [f"{file}:{line}: {why}" if line else f"{file}: {why}" for file, line, why in items]


def sheet_name(file: str) -> str:
    """The workbook sheet that holds the table of `file`: `persons.csv` → `persons`."""
    return file.removesuffix(".csv")


def build_roster(
    grid_rows: Iterable[Row] | None,
    person_rows: Iterable[Row] | None,
    zone_rows: Iterable[Row] | None,
    problems: RosterProblems,
    alias_rows: Iterable[Row] | None = (),
) -> tuple[Roster | None, list[str]]:
    """Validate the tables' rows (None: that file could not be read at all) into a
    roster; with any problem, None and every problem, the readers' included."""
    # A file that could not be read at all leaves its references unchecked (None) rather
    # than burying the one real problem under a "not found" for every reference to it.
    grids_name = problems.name(GRIDS_FILE)
    grids = (
        _parse_grids(grid_rows, problems.of(GRIDS_FILE), grids_name)
        if grid_rows is not None
        else None
    )
    tables = (grids_name, problems.name(PERSONS_FILE))
    persons = parse_persons(person_rows or (), grids, problems.of(PERSONS_FILE), tables)
    zones = parse_zones(zone_rows or (), grids, problems.of(ZONES_FILE), grids_name)
    aliases = parse_aliases(alias_rows or (), grids, admin_prefix, problems.of(ALIASES_FILE))
    if problems.items or grids is None:
        return None, problems.formatted()
    return Roster(MappingProxyType(grids), MappingProxyType(persons), zones, aliases), []


def _parse_grids(rows: Iterable[Row], report: Report, grids_name: str) -> dict[str, Grid]:
    grids: dict[str, Grid] = {}
    lines: dict[str, int] = {}
    for line, cells in rows:
        code, name, parent = cells["code"], cells["name"], cells["parent_code"]
        households = _count(cells, "households", line, report)
        population = _count(cells, "population", line, report)
        location = _location(cells["lat"], cells["lon"], line, report)
        if not name:
            report(line, "name is empty")
        if not _GRID_CODE.fullmatch(code):
            report(line, _bad_code(code))
        elif first_seen(lines, code, line, "grid code", report):
            # Interned: a county repeats each parent code for hundreds of grids.
            grids[code] = Grid(code, name, sys.intern(parent), households, population, location)
    for grid in grids.values():
        problem = _parent_problem(grid.code, grid.parent_code, grids, grids_name)
        if problem:
            report(lines[grid.code], problem)
    return grids


def _parent_problem(
    code: str, parent: str, grids: Mapping[str, Grid], grids_name: str
) -> str | None:
    if not parent or (parent != code and code.startswith(parent) and parent in grids):
        return None
    if parent == code:
        return "a grid cannot be its own parent"
    if parent in grids:
        return f"parent_code {parent} is a grid whose code does not contain {code}"
    prefix = admin_prefix(parent) if len(parent) in _ADMIN_LENGTHS else ""
    if prefix and code.startswith(prefix) and prefix != code:
        return None
    return (
        f"parent_code {parent} is neither a grid in {grids_name} nor an administrative "
        f"code (6, 9 or 12 digits) that contains grid {code}"
    )


def _bad_code(code: str) -> str:
    if not code:
        return "grid code is empty"
    if _EXCEL_SCIENTIFIC.fullmatch(code):
        return f"grid code {code} was turned into a number by the spreadsheet; format as text"
    return f"grid code {code!r} must be 6 or more digits: an administrative code and grid number"


def _count(cells: dict[str, str], column: str, line: int, report: Report) -> int:
    value = cells[column]
    if value.isascii() and value.isdigit():
        return int(value)
    if value:
        report(line, f"{column} {value!r} must be a whole number ≥ 0")
    return 0


def _location(lat_text: str, lon_text: str, line: int, report: Report) -> Point | None:
    if not lat_text and not lon_text:
        return None
    if not lat_text or not lon_text:
        report(line, "lat and lon must both be given or both be empty")
        return None
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        report(line, f"lat/lon {lat_text!r},{lon_text!r} are not decimal degrees")
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        swapped = " (lat and lon swapped?)" if abs(lat) > 90 >= abs(lon) else ""
        report(line, f"lat {lat_text}, lon {lon_text} out of range{swapped}")
        return None
    return Point(lat, lon)
