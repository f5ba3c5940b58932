"""Reading a roster: a directory of CSV files, or one Excel workbook, validated whole by
the core.

grids and persons are required, broadcast_zones and area_aliases are optional
(`dispatcher.core.roster` says what each must hold). A directory's problems read
`file:line: reason`, a workbook's `sheet!row: reason` (`dispatcher.files.roster_workbook`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dispatcher.core.errors import RosterError
from dispatcher.core.roster import (
    ALIAS_COLUMNS,
    ALIASES_FILE,
    GRID_COLUMNS,
    GRIDS_FILE,
    PERSON_COLUMNS,
    PERSONS_FILE,
    ZONE_COLUMNS,
    ZONES_FILE,
    Roster,
    RosterProblems,
    Row,
    build_roster,
)
from dispatcher.files.csv_table import read_table
from dispatcher.files.roster_workbook import Workbook, read_workbook

__all__ = ["check_roster", "is_workbook", "load_roster"]

_Loaded = tuple[Roster | None, list[str]]


def load_roster(source: Path) -> Roster:
    """Read and validate the roster at `source`: a directory of CSV files or an `.xlsx`
    workbook.

    Raises RosterError listing every problem; nothing is loaded then.
    """
    roster, problems = _load(source)
    if roster is None:
        raise RosterError(problems)
    return roster


def check_roster(source: Path) -> list[str]:
    """Return every problem of the roster at `source`; [] if none."""
    return _load(source)[1]


def is_workbook(source: Path) -> bool:
    """Whether `source` names a workbook rather than a directory of CSV files."""
    return source.suffix.lower() in (".xlsx", ".xls") and not source.is_dir()


def _load(source: Path) -> _Loaded:
    if is_workbook(source):
        if not source.is_file():
            return None, [f"{source}: roster workbook not found"]
        return read_workbook(source, _from_workbook, lambda why: (None, [f"{source}: {why}"]))
    if source.is_file():
        return None, [f"{source}: a roster is a directory of CSV files or an .xlsx workbook"]
    if not source.is_dir():
        return None, [f"{source}: roster directory not found"]
    problems = RosterProblems()
    grid_rows = read_table(source / GRIDS_FILE, GRID_COLUMNS, problems.of(GRIDS_FILE))
    person_rows = read_table(source / PERSONS_FILE, PERSON_COLUMNS, problems.of(PERSONS_FILE))
    zone_rows: Iterable[Row] | None = ()
    if (source / ZONES_FILE).exists():
        zone_rows = read_table(source / ZONES_FILE, ZONE_COLUMNS, problems.of(ZONES_FILE))
    alias_rows: Iterable[Row] | None = ()
    if (source / ALIASES_FILE).exists():
        alias_rows = read_table(source / ALIASES_FILE, ALIAS_COLUMNS, problems.of(ALIASES_FILE))
    return build_roster(grid_rows, person_rows, zone_rows, problems, alias_rows)


def _from_workbook(book: Workbook) -> _Loaded:
    problems = RosterProblems(sheets=True)
    grid_rows = book.table(GRIDS_FILE, GRID_COLUMNS, problems.of(GRIDS_FILE))
    person_rows = book.table(PERSONS_FILE, PERSON_COLUMNS, problems.of(PERSONS_FILE))
    zone_rows: Iterable[Row] | None = ()
    if book.has(ZONES_FILE):
        zone_rows = book.table(ZONES_FILE, ZONE_COLUMNS, problems.of(ZONES_FILE))
    alias_rows: Iterable[Row] | None = ()
    if book.has(ALIASES_FILE):
        alias_rows = book.table(ALIASES_FILE, ALIAS_COLUMNS, problems.of(ALIASES_FILE))
    return build_roster(grid_rows, person_rows, zone_rows, problems, alias_rows)
