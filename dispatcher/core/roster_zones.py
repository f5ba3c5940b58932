"""Loudspeaker zones (应急广播, 村村响): one zone, the grids it covers, the EBM area it plays in.

`broadcast_zones.csv` lists one row per grid a zone covers (DESIGN.md, "Roster"): a
village's loudspeakers usually serve all of its grids, so its zone id repeats with each
of them under the same name. Rules decided here:

- A zone id is what the county's broadcast platform knows its loudspeaker group by: a
  12-digit village code, a longer GD/J 080 resource code, or the platform's own id. It is
  1-64 of `A-Z a-z 0-9 . _ -` (it is stored, and goes into send keys and URLs).
- The same id under another name, or the same zone-grid pair twice, is an error; one
  grid may be covered by several zones (a village square and a river dam).
- A zone's EBM area code (the 12-digit 行政区划代码 of GD/J 082 `AreaCode`) is the
  village code its grids share; grids of several villages give their common township
  (or county) code, zero-padded to 12 digits. A zone over several provinces has none
  and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["BroadcastZone", "area_code_of", "parse_zones"]

_ZONE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_EXCEL_NUMBER = re.compile(r"[0-9](?:\.[0-9]+)?E\+[0-9]+|[0-9]+\.0", re.IGNORECASE)
# Village(12), township(9), county(6), city(4), province(2) of GB/T 2260 and its extensions.
_LEVELS = (12, 9, 6, 4, 2)


@dataclass(frozen=True, slots=True)
class BroadcastZone:
    """An emergency-broadcast loudspeaker zone: played once when any of its grids is affected.

    `grid_codes` are sorted; `area_code` is the 12-digit division code of the area they
    cover (`area_code_of`).
    """

    zone_id: str
    grid_codes: tuple[str, ...]
    name: str

    @property
    def area_code(self) -> str:
        return area_code_of(self.grid_codes)


def area_code_of(grid_codes: Iterable[str]) -> str:
    """The 12-digit division code of the smallest division holding every grid in `grid_codes`.

    `441523100201001` and `441523100201002` → `441523100201` (their village);
    `441523100201001` and `441523100202001` → `441523100000` (their township).
    Returns "" for no grid or grids of different provinces.
    """
    codes = [code[:12].ljust(12, "0") for code in grid_codes]
    if not codes:
        return ""
    for length in _LEVELS:
        prefix = codes[0][:length]
        if all(code.startswith(prefix) for code in codes):
            return prefix.ljust(12, "0")
    return ""


Cells = Mapping[str, str]


def parse_zones(
    rows: Iterable[tuple[int, Cells]],
    grid_known: Mapping[str, object] | None,
    report: Callable[[int, str], None],
    grids_file: str,
) -> tuple[BroadcastZone, ...]:
    """The zones of `broadcast_zones.csv`'s rows, sorted by id, every problem reported by
    line. `grid_known` is the roster's grids (None: grids.csv could not be read)."""
    names: dict[str, tuple[str, int]] = {}
    pairs: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        zone_id, grid_code, name = cells["zone_id"], cells["grid_code"], cells["name"]
        if not name:
            report(line, "name is empty")
        if not grid_code:
            report(line, "grid_code is empty")
        elif grid_known is not None and grid_code not in grid_known:
            report(line, f"grid {grid_code} is not in {grids_file}")
        problem = _zone_id_problem(zone_id)
        if problem:
            report(line, problem)
            continue
        first_name, first_line = names.setdefault(zone_id, (name, line))
        if name and first_name and name != first_name:
            report(
                line,
                f"zone {zone_id} is named {first_name!r} on line {first_line} and {name!r} "
                "here: one zone, one name (a different zone needs its own zone_id)",
            )
        if grid_code:
            seen = pairs.setdefault((zone_id, grid_code), line)
            if seen != line:
                report(
                    line, f"duplicate zone {zone_id} for grid {grid_code} (first on line {seen})"
                )
    grids_of: dict[str, set[str]] = {}
    for zone_id, grid_code in pairs:
        grids_of.setdefault(zone_id, set()).add(grid_code)
    for zone_id, codes in grids_of.items():
        if not area_code_of(codes):
            report(
                names[zone_id][1],
                f"zone {zone_id} covers grids of several provinces: it has no area code to play in",
            )
    return tuple(
        BroadcastZone(zone_id, tuple(sorted(grids_of[zone_id])), names[zone_id][0])
        for zone_id in sorted(grids_of)
    )


def _zone_id_problem(zone_id: str) -> str | None:
    if not zone_id:
        return "zone_id is empty"
    if _EXCEL_NUMBER.fullmatch(zone_id):
        return f"zone_id {zone_id} was turned into a number by the spreadsheet; format as text"
    if not _ZONE_ID.fullmatch(zone_id):
        return f"zone_id {zone_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
    return None
