"""Reading a roster directory: its CSV files, validated whole by the core.

grids.csv and persons.csv are required, broadcast_zones.csv is optional
(`dispatcher.core.roster` says what each must hold).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dispatcher.core.errors import RosterError
from dispatcher.core.roster import (
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

__all__ = ["check_roster", "load_roster"]


def load_roster(directory: Path) -> Roster:
    """Read and validate the roster CSV files in `directory`.

    Raises RosterError listing every problem as `file:line: reason`; nothing is loaded
    then.
    """
    roster, problems = _load(directory)
    if roster is None:
        raise RosterError(problems)
    return roster


def check_roster(directory: Path) -> list[str]:
    """Return every problem of the roster in `directory` as `file:line: reason`; [] if none."""
    return _load(directory)[1]


def _load(directory: Path) -> tuple[Roster | None, list[str]]:
    if not directory.is_dir():
        return None, [f"{directory}: roster directory not found"]
    problems = RosterProblems()
    grid_rows = read_table(directory / GRIDS_FILE, GRID_COLUMNS, problems.of(GRIDS_FILE))
    person_rows = read_table(directory / PERSONS_FILE, PERSON_COLUMNS, problems.of(PERSONS_FILE))
    zone_rows: Iterable[Row] | None = ()
    if (directory / ZONES_FILE).exists():
        zone_rows = read_table(directory / ZONES_FILE, ZONE_COLUMNS, problems.of(ZONES_FILE))
    return build_roster(grid_rows, person_rows, zone_rows, problems)
