"""Area aliases (`area_aliases.csv`): places a warning names in a scheme other than the
administrative division codes, mapped to the roster's codes.

A feed from another country's alert system, a weather service's forecast zones, a river
basin or a reservoir's downstream area describe an area by a geocode that is not a
division code (`UGC TXC157`, `FIPS6 040027`, a basin code), or only by its `areaDesc`.
Each row maps one of them to one code of the roster (DESIGN.md, "Roster"):

- `value_name,value`: the geocode's valueName and value as the feed writes them, or
  `areaDesc` and the area's description; matched without regard to case, and to runs of
  spaces inside the value;
- `code`: an administrative code (6, 9 or 12 digits, `441523100000` forms accepted) or
  a grid code that holds at least one grid of this roster; a value standing for several
  places has a row for each.

The same row twice is an error; so are an empty cell and a code that places no grid.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["AREA_DESC", "AreaAlias", "alias_key", "parse_aliases"]

AREA_DESC = "areaDesc"
_CODE = re.compile(r"[0-9]{6,}")
_EXCEL_NUMBER = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class AreaAlias:
    """One row: the geocode (or `areaDesc`) `value_name`/`value` stands for `code`."""

    value_name: str
    value: str
    code: str


def alias_key(value_name: str, value: str) -> tuple[str, str]:
    """The key a geocode or description is looked up by: case and spacing do not count."""
    return value_name.strip().casefold(), " ".join(value.split()).casefold()


def parse_aliases(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    grid_codes: Iterable[str] | None,
    prefix_of: Callable[[str], str],
    report: Callable[[int, str], None],
) -> tuple[AreaAlias, ...]:
    """The aliases of the rows, sorted, every problem reported by line. `grid_codes` are
    the roster's (None: grids could not be read, codes are not checked); `prefix_of`
    turns a code into the prefix it matches grids by (`roster.admin_prefix`)."""
    codes = sorted(grid_codes) if grid_codes is not None else None
    aliases: dict[tuple[str, str, str], AreaAlias] = {}
    lines: dict[tuple[str, str, str], int] = {}
    for line, cells in rows:
        name, value, code = cells["value_name"], cells["value"], cells["code"]
        if name.casefold() == AREA_DESC.casefold():
            name = AREA_DESC
        problems = [
            *(["value_name is empty"] if not name else []),
            *(["value is empty"] if not value else []),
            *([problem] if (problem := _code_problem(code, codes, prefix_of)) else []),
        ]
        for problem in problems:
            report(line, problem)
        key = (*alias_key(name, value), code)
        if key in lines:
            report(line, f"duplicate alias {name} {value!r} → {code} (first on line {lines[key]})")
        elif not problems:
            lines[key] = line
            aliases[key] = AreaAlias(name, " ".join(value.split()), code)
    return tuple(sorted(aliases.values()))


def _code_problem(code: str, codes: list[str] | None, prefix_of: Callable[[str], str]) -> str:
    if not code:
        return "code is empty"
    if _EXCEL_NUMBER.fullmatch(code):
        return f"code {code} was turned into a number by the spreadsheet; format as text"
    prefix = prefix_of(code) if _CODE.fullmatch(code) else ""
    if not prefix:
        return f"code {code!r} must be an administrative code (6, 9 or 12 digits) or a grid code"
    if codes is not None and not _holds_a_grid(codes, prefix):
        return f"code {code} places no grid of this roster"
    return ""


def _holds_a_grid(codes: list[str], prefix: str) -> bool:
    at = bisect_left(codes, prefix)
    return at < len(codes) and codes[at].startswith(prefix)
